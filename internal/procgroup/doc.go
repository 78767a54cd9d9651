// Package procgroup starts child processes (moto_server, the example
// broker) in their own process group, so that stopping one also stops
// what a wrapper script (a pyenv shim, a virtualenv launcher) started, and
// a Ctrl-C in the terminal reaches only the parent, which stops its
// children in order. On Linux the kernel also kills the child if the
// parent dies without cleaning up. On systems without process groups the
// functions fall back to killing the process itself.
package procgroup
