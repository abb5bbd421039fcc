package appspawn

import (
	"syscall"
	"testing"
)

// Children created side by side share syscall.ForkLock's write side:
// the second fork does not wait for the first (or this test would hang),
// and no descriptor maker (a reader of the lock) gets in until the last
// one is done.
func TestForksShareTheLock(t *testing.T) {
	lockForks()
	lockForks()
	if syscall.ForkLock.TryRLock() {
		t.Fatal("a descriptor maker got in while children were being created")
	}
	unlockForks()
	if syscall.ForkLock.TryRLock() {
		t.Fatal("a descriptor maker got in while a child was still being created")
	}
	unlockForks()
	if !syscall.ForkLock.TryRLock() {
		t.Fatal("the lock was not given back after the last child")
	}
	syscall.ForkLock.RUnlock()
}
