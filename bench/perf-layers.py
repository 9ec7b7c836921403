#!/usr/bin/env python3
"""Where the haven process's CPU goes, by layer, from `perf script` output on stdin.

Two views of the same samples (`perf record --call-graph dwarf -p <haven>`):

- inclusive: the share of samples with at least one frame of the layer on the stack (a sample
  counts in every layer it passes through, so the column does not add up to 100%);
- self: each sample is charged to the innermost frame that belongs to a layer; frames of no
  layer (libc's memcpy, core::, alloc:: ...) pass the charge on to their caller, except that
  the allocator and the kernel are layers of their own. This column adds up to 100%.

Usage: perf script -i perf.data | bench/perf-layers.py [--top N]
"""

import re
import sys
from collections import Counter

# (layer, pattern on the demangled symbol or the DSO): first match wins, so the specific come
# before the general. Symbols are Rust paths as perf prints them (v0 or legacy demangling).
LAYERS = [
    ("allocations (malloc/free/realloc)",
     r"\b(__libc_malloc|malloc|_int_malloc|_int_free|free|cfree|__libc_free|realloc|"
     r"_int_realloc|calloc|__libc_calloc|malloc_consolidate|tcache_\w+|__rust_alloc|"
     r"__rust_dealloc|__rust_realloc|alloc::alloc::|mi_\w+|je_\w+|_rjem_\w+)\b"),
    ("JWT verification (RS256)", r"jsonwebtoken|aws_lc|ring::|haven::auth::jwt|haven::auth::keys"),
    ("MFA gate", r"haven::http::caller::mfa_gate|haven::auth::mfa_gate|held_back_by_mfa"),
    ("AES-GCM (PHI fields)", r"aes_gcm|aes::|ghash|polyval|haven::phi::"),
    ("audit-row construction and insert", r"haven::audit::"),
    ("sqlx encode/decode, statements", r"sqlx_core|sqlx_postgres|sqlx::"),
    ("serde (JSON)", r"serde_json|serde::|serde_core"),
    ("tracing and logs", r"tracing_subscriber|tracing_core|tracing::|haven::telemetry"),
    ("metrics", r"metrics_exporter|metrics::|metrics_util"),
    ("routing and middleware (axum, tower)", r"axum::|tower::|tower_http|haven::http::"),
    ("HTTP (hyper)", r"hyper::|hyper_util|\bhttp::|httparse|h2::"),
    ("haven handlers and store (other)", r"haven::"),
    ("tokio runtime", r"tokio::"),
    ("kernel (syscalls, network, scheduling)", r"\[kernel|\(\[kernel|entry_SYSCALL|do_syscall"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in LAYERS]
FRAME = re.compile(r"^\s*[0-9a-f]+\s+(?P<sym>.*?)\s+\((?P<dso>[^)]*)\)\s*$")


def strip_generics(text: str) -> str:
    """`a::B<c::D<E>>::f` -> `a::B::f`: generic arguments name other crates (alloc::, core::)
    and must not decide the layer."""
    out, depth = [], 0
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def head(sym: str) -> str:
    """The path a frame belongs to: `<a::T<X> as b::Trait>::f` -> `a::T::f`."""
    sym = sym.split("+0x")[0]
    if sym.startswith("<"):
        depth = 0
        for i, ch in enumerate(sym):
            depth += ch == "<"
            depth -= ch == ">"
            if depth == 0:
                break
        inner = strip_generics(sym[1:i])
        return inner.split(" as ")[0] + strip_generics(sym[i + 1:])
    return strip_generics(sym)


def layer_of(sym: str, dso: str):
    text = f"{head(sym)} ({dso})"
    for name, pattern in COMPILED:
        if pattern.search(text):
            return name
    return None


def samples(lines):
    stack = []
    in_sample = False
    for line in lines:
        if not line.strip():
            if in_sample:
                yield stack
            stack, in_sample = [], False
            continue
        if not line.startswith((" ", "\t")):
            in_sample = True
            stack = []
            continue
        m = FRAME.match(line)
        if m:
            stack.append((m.group("sym"), m.group("dso")))
    if in_sample:
        yield stack


def main():
    top = 25
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
    inclusive, self_time, leaves = Counter(), Counter(), Counter()
    total = 0
    for stack in samples(sys.stdin):
        if not stack:
            continue
        total += 1
        layers = [layer_of(sym, dso) for sym, dso in stack]
        for name in set(filter(None, layers)):
            inclusive[name] += 1
        charged = next((name for name in layers if name), "other (no layer on the stack)")
        self_time[charged] += 1
        leaves[stack[0][0].split("+0x")[0]] += 1
    if not total:
        sys.exit("no samples on stdin")
    print(f"{total} samples")
    print(f"{'layer':<45} {'self':>7} {'inclusive':>10}")
    names = [name for name, _ in LAYERS] + ["other (no layer on the stack)"]
    for name in sorted(names, key=lambda n: -self_time[n]):
        if self_time[name] or inclusive[name]:
            print(f"{name:<45} {100 * self_time[name] / total:6.1f}% "
                  f"{100 * inclusive[name] / total:9.1f}%")
    print(f"\ntop {top} leaf functions")
    for sym, count in leaves.most_common(top):
        print(f"{100 * count / total:6.2f}%  {sym[:110]}")


if __name__ == "__main__":
    main()
