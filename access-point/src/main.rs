fn main() -> std::process::ExitCode {
    access_point::cli::run()
}
