//! Starting the task's command and signalling it: the command executor's
//! process edge. The command runs in the sandbox, in its own process group
//! (so a signal reaches every process it started), with its output
//! appended to the sandbox's `stdout` and `stderr` files, the executor's
//! environment plus `MESOS_SANDBOX` plus the command's own variables, and
//! as the task's user when the executor runs as root.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use mesoraft_proto::mesos::v1::environment::variable::Type as VariableType;
use mesoraft_proto::mesos::v1::CommandInfo;

use super::env::SANDBOX;
use super::vocab::{Launch, Signal, TaskExit};

/// The shell of shell commands, as Mesos runs them (`sh -c VALUE`).
pub const SHELL: &str = "/bin/sh";

/// The running command.
pub struct TaskProcess {
    child: tokio::process::Child,
    pgid: i32,
}

impl TaskProcess {
    /// Starts `launch`'s command in `sandbox`.
    pub fn start(launch: &Launch, sandbox: &Path) -> Result<TaskProcess, String> {
        let mut command = build_command(&launch.command)?;
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(sandbox.join(name))
                .map_err(|e| format!("cannot open {}: {e}", sandbox.join(name).display()))
        };
        command
            .current_dir(sandbox)
            .env(SANDBOX, sandbox)
            .envs(variables(&launch.command))
            .stdin(Stdio::null())
            .stdout(open("stdout")?)
            .stderr(open("stderr")?)
            .process_group(0);
        if let Some(user) = launch.user.as_deref() {
            if let Some((uid, gid)) = switch_to(user)? {
                command.uid(uid).gid(gid);
            }
        }
        let child = tokio::process::Command::from(command)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", describe(&launch.command)))?;
        let pid = child
            .id()
            .ok_or_else(|| "the command exited before its pid was read".to_string())?;
        let pgid = i32::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
        Ok(TaskProcess { child, pgid })
    }

    /// Signals the command's whole process group.
    pub fn signal(&self, signal: Signal) {
        signal_group(self.pgid, signal);
    }

    /// Waits for the command (the group leader) to end.
    pub async fn wait(&mut self) -> TaskExit {
        use std::os::unix::process::ExitStatusExt;
        match self.child.wait().await {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => TaskExit::Exited(code),
                (None, Some(signal)) => TaskExit::Signaled(signal),
                (None, None) => TaskExit::Unknown(format!("{status}")),
            },
            Err(e) => TaskExit::Unknown(e.to_string()),
        }
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }
}

/// Sends `signal` to process group `pgid` (a group already gone is fine).
pub fn signal_group(pgid: i32, signal: Signal) {
    let signal = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no
        // memory is involved.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// The program and its arguments: `sh -c VALUE` for a shell command,
/// else VALUE executed with `arguments` as its argv (argv[0] included).
fn build_command(command: &CommandInfo) -> Result<std::process::Command, String> {
    let value = command
        .value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or("the command has no value")?;
    if command.shell.unwrap_or(true) {
        let mut shell = std::process::Command::new(SHELL);
        shell.arg0("sh").arg("-c").arg(value);
        Ok(shell)
    } else {
        let mut program = std::process::Command::new(value);
        if let Some((argv0, rest)) = command.arguments.split_first() {
            program.arg0(argv0).args(rest);
        }
        Ok(program)
    }
}

/// The command's own variables (plain values; secrets are not supported
/// and left out).
fn variables(command: &CommandInfo) -> Vec<(String, String)> {
    command
        .environment
        .iter()
        .flat_map(|env| env.variables.iter())
        .filter(|v| v.r#type.is_none_or(|_| v.r#type() == VariableType::Value))
        .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
        .collect()
}

fn describe(command: &CommandInfo) -> String {
    command.value.clone().unwrap_or_default()
}

/// The uid and gid to run as `user`: `None` when no switch is needed
/// (not root, or already that user).
fn switch_to(user: &str) -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new(user).map_err(|_| format!("user {user:?} contains a NUL byte"))?;
    let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; getpwnam_r writes the
    // entry's strings into `buffer`, which outlives their (unused) use.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut passwd,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(format!(
            "user {user:?} does not exist on this agent (the task runs as its framework's or command's user)"
        ));
    }
    if passwd.pw_uid == 0 {
        return Ok(None);
    }
    Ok(Some((passwd.pw_uid, passwd.pw_gid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesoraft_proto::mesos::v1::{environment, Environment, TaskId};

    fn launch(command: CommandInfo) -> Launch {
        Launch {
            task_id: TaskId { value: "t".into() },
            command,
            user: None,
            sandbox: None,
        }
    }

    #[tokio::test]
    async fn a_shell_command_runs_in_the_sandbox_with_its_environment_and_output_files() {
        let sandbox = tempfile::tempdir().unwrap();
        let command = CommandInfo {
            value: Some("echo \"$GREETING from $(pwd)\"; echo oops >&2; exit 3".into()),
            environment: Some(Environment {
                variables: vec![environment::Variable {
                    name: "GREETING".into(),
                    value: Some("hi".into()),
                    r#type: None,
                }],
            }),
            ..Default::default()
        };
        let mut process = TaskProcess::start(&launch(command), sandbox.path()).unwrap();
        assert_eq!(process.wait().await, TaskExit::Exited(3));
        let stdout = std::fs::read_to_string(sandbox.path().join("stdout")).unwrap();
        let real = sandbox.path().canonicalize().unwrap();
        assert_eq!(stdout, format!("hi from {}\n", real.display()));
        let stderr = std::fs::read_to_string(sandbox.path().join("stderr")).unwrap();
        assert_eq!(stderr, "oops\n");
    }

    #[tokio::test]
    async fn an_argv_command_gets_its_arguments_and_a_group_signal_reaches_every_process() {
        let sandbox = tempfile::tempdir().unwrap();
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/sh".into()),
            arguments: vec![
                "sh".into(),
                "-c".into(),
                "sleep 30 & echo started; wait".into(),
            ],
            ..Default::default()
        };
        let mut process = TaskProcess::start(&launch(command), sandbox.path()).unwrap();
        let stdout = sandbox.path().join("stdout");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(&stdout).unwrap_or_default() != "started\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "the command never started"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        process.signal(Signal::Kill);
        assert_eq!(process.wait().await, TaskExit::Signaled(libc::SIGKILL));
        // The background sleep was in the group too: nothing is left
        // (zombies not yet reaped by init count as gone).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !crate::procfs::group_members(process.pgid()).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "a process of the task's group survived"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn a_missing_program_or_user_is_an_error_not_a_panic() {
        let sandbox = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let missing = CommandInfo {
            shell: Some(false),
            value: Some("/nonexistent/program".into()),
            ..Default::default()
        };
        let err = TaskProcess::start(&launch(missing), sandbox.path())
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent/program"), "{err}");
        let mut as_nobody = launch(CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        });
        as_nobody.user = Some("no-such-user-here".into());
        if unsafe { libc::geteuid() } == 0 {
            let err = TaskProcess::start(&as_nobody, sandbox.path())
                .err()
                .unwrap();
            assert!(err.contains("no-such-user-here"), "{err}");
        }
    }
}
