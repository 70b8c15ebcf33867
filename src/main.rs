use clap::Parser;

// One allocator for every build, including the static musl image: under the
// operator's allocation churn glibc's malloc held about 70 MiB of RSS for
// 24 MiB of live heap at 2,000 objects (heaptrack), and musl's is slower
// still. docs/benchmarks.md has the measurements.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    qualys_operator::cli::run(qualys_operator::cli::Cli::parse())
}
