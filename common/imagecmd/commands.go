package imagecmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/aci/compression"
	// Images are decompressed here (extract, export, render): the
	// decoders.
	_ "github.com/rkt/rkt/common/aci/compression/codecs"
	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/fscopy"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/store"
)

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:    "rm",
		Summary: "Remove image(s) from the local store",
		Usage:   "IMAGE...",
		Description: `Removes the images and their download records. Rendered trees stay
until 'rkt image gc', so pods prepared from an image still run.`,
		Run: func(env *cli.Env, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("image rm needs at least one image")
			}
			st, err := openStore(env)
			if err != nil {
				return err
			}
			return removeImages(env, st, args)
		},
	}
}

// removeImages removes each image and reports as rkt did; any failure
// makes the command fail after trying them all.
func removeImages(env *cli.Env, st *store.Store, args []string) error {
	done, failed := 0, 0
	seen := map[string]bool{}
	for _, a := range args {
		key, err := st.Resolve(a)
		if err == nil && seen[key] {
			continue
		}
		if err == nil {
			seen[key] = true
			err = st.Remove(key)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "rkt: cannot remove image %q: %v\n", a, err)
			failed++
			continue
		}
		fmt.Fprintf(env.Stdout, "successfully removed aci for image: %q\n", key)
		done++
	}
	if done > 0 {
		fmt.Fprintf(env.Stderr, "%d image(s) successfully removed\n", done)
	}
	if failed > 0 {
		return fmt.Errorf("%d image(s) cannot be removed", failed)
	}
	return nil
}

func catManifestCommand() *cli.Command {
	var pretty bool
	return &cli.Command{
		Name:    "cat-manifest",
		Summary: "Print the manifest of an image",
		Usage:   "[--pretty-print=true] IMAGE",
		Flags:   func(fs *pflag.FlagSet) { fs.BoolVar(&pretty, "pretty-print", true, "indent the JSON") },
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("image cat-manifest needs exactly one image")
			}
			st, err := openStore(env)
			if err != nil {
				return err
			}
			key, err := st.Resolve(args[0])
			if err != nil {
				return err
			}
			data, err := st.Manifest(key)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if pretty {
				err = json.Indent(&buf, data, "", "\t")
			} else {
				err = json.Compact(&buf, data)
			}
			if err != nil {
				return fmt.Errorf("image %s: stored manifest: %w", key, err)
			}
			buf.WriteByte('\n')
			_, err = env.Stdout.Write(buf.Bytes())
			return err
		},
	}
}

func exportCommand() *cli.Command {
	var overwrite bool
	return &cli.Command{
		Name:    "export",
		Summary: "Write an image from the store to an ACI file",
		Usage:   "[--overwrite] IMAGE OUTPUT.aci",
		Description: `Writes the image's uncompressed ACI: its ID is the stored image's ID.
A Docker or OCI image is written as one ACI of its converted manifest and
its layers applied (an ACI of another ID). No network access.`,
		Flags: func(fs *pflag.FlagSet) { fs.BoolVar(&overwrite, "overwrite", false, "replace OUTPUT if it exists") },
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 2 {
				return cli.Usagef("image export needs an image and an output file")
			}
			if !overwrite {
				if _, err := os.Lstat(args[1]); err == nil {
					return fmt.Errorf("output ACI file exists (try --overwrite)")
				}
			}
			st, err := openStore(env)
			if err != nil {
				return err
			}
			key, err := st.Resolve(args[0])
			if err != nil {
				return err
			}
			out, err := atomicfile.Create(args[1], "", 0o644)
			if err != nil {
				return fmt.Errorf("exporting to %s: %w", args[1], err)
			}
			defer out.Abort()
			if st.IsOCI(key) {
				// A Docker/OCI image has no ACI to copy: one is made.
				if err := st.WriteACI(key, out, os.Geteuid() == 0); err != nil {
					return err
				}
			} else {
				blob, err := os.Open(st.BlobPath(key))
				if err != nil {
					return fmt.Errorf("image %s: %w", key, err)
				}
				defer blob.Close()
				dec, _, err := compression.Decompress(blob)
				if err != nil {
					return err
				}
				defer dec.Close()
				if _, err := io.Copy(out, dec); err != nil {
					return fmt.Errorf("exporting %s: %w", key, err)
				}
			}
			if err := out.Commit(); err != nil {
				return err
			}
			st.Touch(key)
			return nil
		},
	}
}

func prepareOutput(dir string, overwrite bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if abs == "/" {
		return fmt.Errorf("refusing to write into /")
	}
	if _, err := os.Lstat(abs); err == nil {
		if !overwrite {
			return fmt.Errorf("output directory %s exists (try --overwrite)", dir)
		}
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
	}
	return nil
}

// outputCommand is the shape of extract and render: IMAGE DIR with
// --rootfs-only and --overwrite; run gets the resolved image and an
// output directory that does not exist yet.
func outputCommand(name, summary string, root bool, run func(env *cli.Env, st *store.Store, key, dir string, rootfsOnly bool) error) *cli.Command {
	var rootfsOnly, overwrite bool
	return &cli.Command{
		Name:      name,
		Summary:   summary,
		Usage:     "[--rootfs-only] [--overwrite] IMAGE DIR",
		NeedsRoot: root,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&rootfsOnly, "rootfs-only", false, "only the rootfs")
			fs.BoolVar(&overwrite, "overwrite", false, "replace DIR if it exists")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 2 {
				return cli.Usagef("image %s needs an image and a directory", name)
			}
			st, err := openStore(env)
			if err != nil {
				return err
			}
			key, err := st.Resolve(args[0])
			if err != nil {
				return err
			}
			if err := prepareOutput(args[1], overwrite); err != nil {
				return err
			}
			return run(env, st, key, args[1], rootfsOnly)
		},
	}
}

func extractCommand() *cli.Command {
	return outputCommand("extract", "Extract an image (without its dependencies) to a directory", false,
		func(env *cli.Env, st *store.Store, key, dir string, rootfsOnly bool) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			var err error
			if st.IsOCI(key) {
				err = extractOCI(st, key, dir, rootfsOnly)
			} else {
				_, _, err = aci.ReadFile(st.BlobPath(key), dir, aci.ExtractOptions{Root: os.Geteuid() == 0, RootfsOnly: rootfsOnly})
			}
			if err != nil {
				os.RemoveAll(dir)
				return fmt.Errorf("extracting %s: %w", key, err)
			}
			st.Touch(key)
			return nil
		})
}

// extractOCI lays a Docker or OCI image out as an extracted ACI: its
// converted manifest and rootfs/ (or the rootfs alone).
func extractOCI(st *store.Store, key, dir string, rootfsOnly bool) error {
	rootfs := dir
	if !rootfsOnly {
		m, err := st.Manifest(key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "manifest"), m, 0o644); err != nil {
			return err
		}
		rootfs = filepath.Join(dir, "rootfs")
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			return err
		}
	}
	_, err := st.ApplyLayers(key, rootfs, os.Geteuid() == 0)
	return err
}

func renderCommand() *cli.Command {
	return outputCommand("render", "Render an image with its dependencies to a directory", true,
		func(env *cli.Env, st *store.Store, key, dir string, rootfsOnly bool) error {
			id, err := treeOf(env, st, key)
			if err != nil {
				return err
			}
			if rootfsOnly {
				return fscopy.Copy(st.TreeRootfs(id), dir)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			m, err := st.Manifest(key)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "manifest"), m, 0o644); err != nil {
				return err
			}
			return fscopy.Copy(st.TreeRootfs(id), filepath.Join(dir, "rootfs"))
		})
}

// treeOf returns an image's tree, rendering it if needed, and rebuilding
// it with a warning when the ondisk check fails.
func treeOf(env *cli.Env, st *store.Store, key string) (string, error) {
	keys, _, err := st.RenderKeys(key)
	if err != nil {
		return "", err
	}
	id := store.TreeID(keys)
	if err := st.CheckTree(id); errors.Is(err, store.ErrTreeDamaged) {
		fmt.Fprintln(env.Stderr, "warning: tree cache is in a bad state. Rebuilding...")
		if err := st.RemoveTree(id); err != nil {
			return "", err
		}
	}
	return st.Render(key, true, env.Globals.Insecure.Has(cli.InsecureOnDisk))
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Summary:   "Verify the rendered trees of image(s), and repair them",
		Usage:     "IMAGE...",
		NeedsRoot: true,
		Run: func(env *cli.Env, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("image verify needs at least one image")
			}
			st, err := openStore(env)
			if err != nil {
				return err
			}
			var failed int
			for _, a := range args {
				if err := verifyOne(env, st, a); err != nil {
					fmt.Fprintf(env.Stderr, "rkt: %v\n", err)
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d image(s) could not be verified", failed)
			}
			return nil
		},
	}
}

func verifyOne(env *cli.Env, st *store.Store, arg string) error {
	key, err := st.Resolve(arg)
	if err != nil {
		return err
	}
	keys, _, err := st.RenderKeys(key)
	if err != nil {
		return err
	}
	id := store.TreeID(keys)
	info, err := st.Info(key)
	if err != nil {
		return err
	}
	switch err := st.VerifyTree(id); {
	case errors.Is(err, store.ErrNotRendered):
		fmt.Fprintf(env.Stdout, "image %q not rendered; no verification needed\n", arg)
		return nil
	case err != nil:
		fmt.Fprintf(env.Stdout, "tree cache verification failed for image %q: %v; rebuilding...\n", arg, err)
		if err := st.RemoveTree(id); err != nil {
			return err
		}
		if _, err := st.Render(key, true, false); err != nil {
			return fmt.Errorf("rebuilding tree of %q: %w", arg, err)
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "successfully verified checksum for image: %q (%q)\n", arg, info.ID)
	return nil
}

func gcCommand() *cli.Command {
	var grace time.Duration
	return &cli.Command{
		Name:      "gc",
		Summary:   "Remove unused trees and images not used within the grace period",
		Usage:     "[--grace-period=24h0m0s]",
		NeedsRoot: true,
		Description: `Removes every rendered tree no pod refers to, images last used before
the grace period (except those of running pods), and what interrupted
fetches left behind.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.DurationVar(&grace, "grace-period", 24*time.Hour, "remove images unused for longer than this")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 0 {
				return cli.Usagef("image gc takes no arguments")
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			if err := gcTrees(env, root, st); err != nil {
				return err
			}
			running, err := pod.RunningImageIDs(root.Pods())
			if err != nil {
				return err
			}
			keep := map[string]bool{}
			for id := range running {
				if k, err := store.KeyOf(id); err == nil {
					keep[k] = true
				}
			}
			expired, err := st.ExpiredImages(time.Now().Add(-grace), keep)
			if err != nil {
				return err
			}
			if err := st.CleanTmp(time.Hour); err != nil {
				env.Warnf("cleaning %s: %v", root.CASTmp(), err)
			}
			if len(expired) > 0 {
				if err := removeImages(env, st, expired); err != nil {
					return err
				}
			}
			// Docker and OCI layers go once no stored image lists them.
			return st.GCLayers(func(d string) { fmt.Fprintf(env.Stderr, "removed layer %q\n", d) })
		},
	}
}

// gcTrees removes trees no pod refers to, holding the prepare lock
// exclusively so that no prepare picks a tree while it goes.
func gcTrees(env *cli.Env, root dirs.Root, st *store.Store) error {
	unlock, err := flock.KeyLock(root.Locks(), dirs.PrepareLockKey, flock.Exclusive, true)
	if err != nil {
		return fmt.Errorf("taking the prepare lock: %w", err)
	}
	defer unlock()
	keep, err := pod.TreeStoreIDs(root.Pods())
	if err != nil {
		return err
	}
	return st.GCTrees(keep, func(id string) { fmt.Fprintf(env.Stderr, "removed treestore %q\n", id) })
}
