// Package nsenter links in a C constructor that joins and creates
// namespaces before the Go runtime starts (see nsenter.c for why and for
// its inputs). Importing it is all that is needed; it does nothing unless
// the parent set _BERTH_NSENTER.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"
