fn main() -> std::process::ExitCode {
    modelops::run::run(std::env::args_os())
}
