//go:build !(linux && amd64)

package launch

// trampolineELF is nil where there is no trampoline for the architecture:
// workers start through the exec shim.
var trampolineELF []byte
