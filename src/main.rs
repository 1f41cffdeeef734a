//! The `obp` command: everything is in the library ([`obp::main`]).

/// mimalloc instead of glibc's allocator: evaluation and planning allocate millions of small
/// values on several threads, where glibc's per-thread arenas kept the peak RSS of a
/// 1,000-tenant apply far above its live heap (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    obp::main()
}
