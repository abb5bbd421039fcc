// Package stage2app holds what every stage1 flavor does the same way to
// an app (a stage2) inside its rootfs: resolving its user and groups
// from the image's passwd and group files, its environment and env file,
// finding its executable, planning and preparing its volumes, resolving
// and creating mount targets without leaving the rootfs, giving it a
// /tmp, and parsing the DNS modes of its /etc/resolv.conf and /etc/hosts.
package stage2app
