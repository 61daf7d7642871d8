;; wasm-wat: an example wasm plugin written by hand in the WebAssembly text
;; format, implementing the tuskq wasm ABI version 1 (docs/plugins.md, "The
;; wasm ABI") without any SDK. hello:wat answers "Hello, PAYLOAD!".
;;
;; Memory: the input buffer, then a bump allocator. The host asks
;; tuskq_buffer once for a buffer it reuses for every task's type, payload
;; and meta (a worker without it would call tuskq_alloc for each input);
;; tuskq_handle frees what it allocated at its end by resetting the heap to
;; just above the input buffer, so each task starts from an empty heap.
;; Build it with make plugins, or: wat2wasm hello.wat -o hello.wasm
(module
  (import "tuskq" "log" (func $log (param i32 i32 i32)))
  (import "tuskq" "set_result" (func $set_result (param i32 i32) (result i32)))
  (import "tuskq" "set_error" (func $set_error (param i32 i32)))

  (memory (export "memory") 1)

  ;; Constant strings below 1024; the heap starts above them.
  (data (i32.const 16) "Hello, ")                    ;; 7 bytes
  (data (i32.const 32) "the payload must be a name") ;; 26 bytes
  (data (i32.const 64) "greeted from WebAssembly text") ;; 29 bytes
  (global $heap_base (mut i32) (i32.const 1024)) ;; above the input buffer
  (global $heap (mut i32) (i32.const 1024))

  (func (export "tuskq_abi_version") (result i32)
    (i32.const 1))

  ;; tuskq_alloc(size) -> ptr: size bytes the host may write.
  (func $alloc (export "tuskq_alloc") (param $size i32) (result i32)
    (local $p i32)
    (local $need i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (local.set $need
      (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (local.get $need) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then unreachable)))) ;; past limits.memory: the task fails, the instance is discarded
    (local.get $p))

  ;; tuskq_buffer(size) -> ptr: the input buffer, at 1024, of at least
  ;; size bytes; the heap starts above it. Called between tasks only.
  (func (export "tuskq_buffer") (param $size i32) (result i32)
    (global.set $heap_base (i32.const 1024))
    (global.set $heap (i32.const 1024))
    (drop (call $alloc (local.get $size))) ;; grows the memory when needed
    (global.set $heap_base (global.get $heap))
    (i32.const 1024))

  ;; tuskq_handle(type, payload, meta as pointer and length pairs) -> code
  (func (export "tuskq_handle")
    (param $tp i32) (param $tl i32) (param $pp i32) (param $pl i32) (param $mp i32) (param $ml i32)
    (result i32)
    (local $out i32)
    (local $n i32)
    (if (i32.eqz (local.get $pl))
      (then
        (call $set_error (i32.const 32) (i32.const 26))
        (global.set $heap (global.get $heap_base))
        (return (i32.const 2)))) ;; 2: failed, do not retry
    ;; "Hello, " + payload + "!"
    (local.set $n (i32.add (local.get $pl) (i32.const 8)))
    (local.set $out (call $alloc (local.get $n)))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $pp) (local.get $pl))
    (i32.store8 (i32.add (local.get $out) (i32.sub (local.get $n) (i32.const 1))) (i32.const 33))
    (drop (call $set_result (local.get $out) (local.get $n))) ;; the host copies it now
    (call $log (i32.const 1) (i32.const 64) (i32.const 29))
    (global.set $heap (global.get $heap_base))
    (i32.const 0)) ;; 0: success
)
