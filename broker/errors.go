package broker

import "errors"

// errStopIteration ends a record walk early; it never leaves the package.
var errStopIteration = errors.New("stop iteration")
