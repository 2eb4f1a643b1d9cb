// Parsing thousands of small manifests is allocation-bound; mimalloc makes
// `validate` on 10,000 files about a fifth faster than the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    modelops::run::run(std::env::args_os())
}
