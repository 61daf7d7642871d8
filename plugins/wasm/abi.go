package wasm

// ABI of wasm plugins, version ABIVersion. docs/plugins.md ("The wasm
// ABI") is the reference for guest authors; these names are its source of
// truth.
const (
	// ABIVersion is the ABI this runtime implements. A guest's
	// ExportABIVersion must return it.
	ABIVersion = 1

	// ImportModule is the module name of the host functions.
	ImportModule = "tuskq"

	// Guest exports.
	ExportABIVersion = "tuskq_abi_version" // () -> i32
	ExportAlloc      = "tuskq_alloc"       // (size i32) -> ptr i32
	ExportHandle     = "tuskq_handle"      // (type, payload, meta as ptr,len pairs) -> code i32
	ExportBuffer     = "tuskq_buffer"      // optional: (size i32) -> ptr i32, a reusable input buffer
	ExportMemory     = "memory"
	ExportInitialize = "_initialize" // WASI reactor initialisation, called once per instance

	// Host functions (imports of module ImportModule).
	ImportLog          = "log"           // (level i32, ptr i32, len i32)
	ImportProgress     = "progress"      // (percent i32, ptr i32, len i32)
	ImportSetResult    = "set_result"    // (ptr i32, len i32) -> i32
	ImportSetError     = "set_error"     // (ptr i32, len i32)
	ImportHTTPRequest  = "http_request"  // (ptr i32, len i32) -> i32
	ImportHTTPResponse = "http_response" // (ptr i32, len i32) -> i32
)

// Codes tuskq_handle returns.
const (
	CodeOK        = 0 // success; the result is what set_result was given (none when not called)
	CodeError     = 1 // the task failed and is retried; set_error gave the message
	CodeSkipRetry = 2 // the task failed and is not retried (archived)
)

// Log levels of the log host function.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

// Results of set_result and http_request besides a length.
const (
	ResultTooLarge     = -1 // set_result: larger than Options.MaxResult; the task fails
	HTTPNotGranted     = -1 // http_request: the manifest does not grant sandbox.http
	HTTPBadRequest     = -2 // http_request: the request is not valid JSON of the documented shape
	HTTPNoResponse     = -3 // http_response: no response waiting
	HTTPBufferTooSmall = -4 // http_response: len is smaller than the response
)
