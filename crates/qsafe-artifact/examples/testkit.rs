//! Writes the hostile-input testkit to a directory:
//! `cargo run -p qsafe-artifact --features testkit --example testkit -- DIR`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: testkit DIR");
        return ExitCode::from(2);
    };
    let kit = match qsafe_artifact::testkit::Kit::generate() {
        Ok(kit) => kit,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = qsafe_artifact::testkit::write(&kit, std::path::Path::new(&dir)) {
        eprintln!(
            "error: writing {}: {e}",
            std::path::Path::new(&dir).display()
        );
        return ExitCode::from(1);
    }
    println!(
        "wrote {} cases to {}",
        kit.cases.len(),
        std::path::Path::new(&dir).display()
    );
    ExitCode::SUCCESS
}
