package imagecmd

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/store"
	"github.com/rkt/rkt/common/ui"
)

var listFields = map[string]string{
	"id": "ID", "name": "NAME", "size": "SIZE", "importtime": "IMPORT TIME", "lastused": "LAST USED",
}

var sortable = map[string]func(a, b *store.ImageInfo) bool{
	"name":       func(a, b *store.ImageInfo) bool { return a.NameVersion() < b.NameVersion() },
	"importtime": func(a, b *store.ImageInfo) bool { return a.ImportTime.Before(b.ImportTime) },
	"lastused":   func(a, b *store.ImageInfo) bool { return a.LastUsed.Before(b.LastUsed) },
	"size":       func(a, b *store.ImageInfo) bool { return a.Size+a.TreeSize < b.Size+b.TreeSize },
}

// jsonImage is one image in --format=json (reference CLI-IMG-03).
type jsonImage struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ImportTime   int64  `json:"import_time"`
	LastUsedTime int64  `json:"last_used_time"`
	Size         int64  `json:"size"`
}

func listCommand() *cli.Command {
	var (
		fields   string
		sortBy   string
		order    string
		noLegend bool
		full     bool
		format   string
	)
	return &cli.Command{
		Name:    "list",
		Summary: "List images in the local store",
		Usage:   "[--fields=id,name,size,importtime,lastused] [--sort=importtime] [--order=asc|desc] [--no-legend] [--full] [--format=json|json-pretty]",
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&fields, "fields", "id,name,size,importtime,lastused", "comma-separated fields to print: id, name, size, importtime, lastused")
			fs.StringVar(&sortBy, "sort", "importtime", "sort by: name, importtime, lastused, size")
			fs.StringVar(&order, "order", "asc", "sort order: asc or desc")
			fs.BoolVar(&noLegend, "no-legend", false, "suppress the header line")
			fs.BoolVar(&full, "full", false, "full IDs, exact sizes and long times")
			fs.StringVar(&format, "format", "", "output format: json or json-pretty (default: a table)")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 0 {
				return cli.Usagef("image list takes no arguments")
			}
			cols := strings.Split(strings.ToLower(fields), ",")
			for _, c := range cols {
				if _, ok := listFields[c]; !ok {
					return cli.Usagef("unknown field %q (valid: id, name, size, importtime, lastused)", c)
				}
			}
			less, ok := sortable[strings.ToLower(sortBy)]
			if !ok {
				return cli.Usagef("cannot sort by %q (valid: name, importtime, lastused, size)", sortBy)
			}
			if order != "asc" && order != "desc" {
				return cli.Usagef("order must be asc or desc, not %q", order)
			}
			if format != "" && format != "json" && format != "json-pretty" {
				return cli.Usagef("format must be json or json-pretty, not %q", format)
			}
			st, err := openStore(env)
			if err != nil {
				return err
			}
			infos, err := st.Infos()
			if err != nil {
				return err
			}
			sort.SliceStable(infos, func(i, j int) bool {
				if order == "desc" {
					return less(infos[j], infos[i])
				}
				return less(infos[i], infos[j])
			})
			if format != "" {
				return printJSON(env, infos, format == "json-pretty")
			}
			return printTable(env, infos, cols, noLegend, full)
		},
	}
}

func printJSON(env *cli.Env, infos []*store.ImageInfo, pretty bool) error {
	var out []jsonImage
	for _, i := range infos {
		out = append(out, jsonImage{ID: i.Key, Name: i.NameVersion(), ImportTime: i.ImportTime.UnixNano(),
			LastUsedTime: i.LastUsed.UnixNano(), Size: i.Size + i.TreeSize})
	}
	var data []byte
	var err error
	if pretty {
		data, err = json.MarshalIndent(out, "", "\t")
	} else {
		data, err = json.Marshal(out)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s\n", data)
	return err
}

func printTable(env *cli.Env, infos []*store.ImageInfo, cols []string, noLegend, full bool) error {
	tw := ui.NewTable(env.Stdout)
	if !noLegend {
		var hdr []string
		for _, c := range cols {
			hdr = append(hdr, listFields[c])
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	}
	now := time.Now()
	when := func(t time.Time) string {
		if full {
			return t.Format(ui.LongTime)
		}
		return ui.Ago(t, now)
	}
	for _, i := range infos {
		var row []string
		for _, c := range cols {
			switch c {
			case "id":
				if full {
					row = append(row, i.Key)
				} else {
					row = append(row, store.ShortID(i.Key, store.ListHexLen))
				}
			case "name":
				row = append(row, i.NameVersion())
			case "size":
				if full {
					row = append(row, fmt.Sprint(i.Size+i.TreeSize))
				} else {
					row = append(row, ui.IECSize(i.Size+i.TreeSize))
				}
			case "importtime":
				row = append(row, when(i.ImportTime))
			case "lastused":
				row = append(row, when(i.LastUsed))
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
