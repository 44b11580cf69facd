//! What the figures were measured on, read when the run starts.

use std::path::Path;
use std::process::Command;

pub struct Versions {
    pub rustc: String,
    pub node: String,
    pub python: String,
}

pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
    pub date: String,
    pub versions: Versions,
}

fn output(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl Machine {
    pub fn read(node: &Path, python: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name")?.split(':').nth(1))
            .map_or_else(|| "unknown".into(), |model| model.trim().to_string());
        Machine {
            cpu,
            // The generator runs pinned, so the machine's count comes from cpuinfo, not affinity.
            cpus: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count()
                .max(1),
            kernel: output("uname", &["-sr"]),
            date: output("date", &["-u", "+%Y-%m-%d"]),
            versions: Versions {
                rustc: output("rustc", &["--version"]),
                node: output(node, &["--version"])
                    .trim_start_matches('v')
                    .to_string(),
                python: output(
                    python,
                    &["-c", "import platform; print(platform.python_version())"],
                ),
            },
        }
    }
}
