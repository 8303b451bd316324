;; A core module with its own ABI for the check fixtures: a bump `malloc`,
;; `free` and `add(a, b) -> a + b`.
(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))
