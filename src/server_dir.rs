//! Where the private PostgreSQL and Dovecot keep their files.
//!
//! As root, both servers run their processes as unprivileged users (`postgres`/`nobody`,
//! `mail`), which must pass through every folder above their files. A checkout under
//! `/root` or a `mktemp -d` folder (mode 0700) does not let them, so there the files move
//! to a folder of their own under `/var/lib/mailplane`, and the data folder keeps symbolic
//! links to them so that a person (and `psql -h`) still finds them where the README says.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Where relocated server files go unless `MAILPLANE_SERVER_DIR` says otherwise.
const RELOCATED_ROOT: &str = "/var/lib/mailplane";

/// The entries of the data folder that belong to the servers (linked when relocated).
const SERVER_ENTRIES: [&str; 3] = ["postgres", "postgres-socket", "dovecot"];

/// The folder that holds `postgres/`, `postgres-socket/` and `dovecot/`: the data folder
/// itself when every user can reach it (or we are not root), else a relocated one.
pub fn resolve(data_dir: &Path, configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(data_dir)
        .with_context(|| format!("cannot resolve {}", data_dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let target = match configured {
        Some(dir) => dir.to_path_buf(),
        None if !root => return Ok(data_dir),
        None => match closed_ancestor(&data_dir) {
            None => return Ok(data_dir),
            Some(closed) => {
                let target = Path::new(RELOCATED_ROOT).join(name_for(&data_dir));
                tracing::info!(
                    closed = %closed.display(),
                    servers = %target.display(),
                    "the data folder is not reachable by the servers' unprivileged users; \
                     their files live in a folder of their own (MAILPLANE_SERVER_DIR to choose)"
                );
                target
            }
        },
    };
    prepare(&target).with_context(|| {
        format!(
            "cannot prepare {} for the private PostgreSQL and Dovecot. Run mailplane from a \
             folder every user can enter, set MAILPLANE_SERVER_DIR to one, or set DATABASE_URL \
             (and MAILPLANE_DATAPLANE) to servers you run yourself",
            target.display()
        )
    })?;
    if let Some(closed) = closed_ancestor(&target).filter(|_| root) {
        bail!(
            "the server folder {} is inside {}, which the postgres and mail users cannot enter \
             (it needs o+x); choose another MAILPLANE_SERVER_DIR",
            target.display(),
            closed.display()
        );
    }
    for entry in SERVER_ENTRIES {
        link(&data_dir.join(entry), &target.join(entry))?;
    }
    Ok(target)
}

/// The first folder on the way to `path` (itself included) that others cannot pass through.
fn closed_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|dir| {
            std::fs::metadata(dir)
                .map(|m| m.permissions().mode() & 0o001 == 0)
                .unwrap_or(true)
        })
        .map(Path::to_path_buf)
}

/// One folder per data folder, so two checkouts never share a cluster.
fn name_for(data_dir: &Path) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in data_dir.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

fn prepare(target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    // Only its own ancestors that we created are opened up; an existing folder's mode is
    // the operator's choice, checked by the caller.
    for dir in target.ancestors() {
        if dir.starts_with(RELOCATED_ROOT) {
            let mut perms = std::fs::metadata(dir)?.permissions();
            if perms.mode() & 0o005 != 0o005 {
                perms.set_mode(0o755);
                std::fs::set_permissions(dir, perms)?;
            }
        }
    }
    Ok(())
}

/// Points `at` to `to`. A link of an earlier run is kept or corrected; an empty folder (left
/// by a start that failed) is replaced; a folder with files is not ours to move.
fn link(at: &Path, to: &Path) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_link(at) {
        if old == to {
            return Ok(());
        }
        std::fs::remove_file(at)
            .with_context(|| format!("cannot replace the link {}", at.display()))?;
    } else if at.is_dir() {
        if std::fs::remove_dir(at).is_err() {
            bail!(
                "{} holds files, but the servers' unprivileged users cannot reach it; move it \
                 to {} (or run from a folder every user can enter)",
                at.display(),
                to.display()
            );
        }
    } else if at.symlink_metadata().is_ok() {
        bail!(
            "{} is in the way of a link to {}",
            at.display(),
            to.display()
        );
    }
    std::os::unix::fs::symlink(to, at)
        .with_context(|| format!("cannot link {} to {}", at.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_folder_on_the_way_is_found() {
        let base = std::env::temp_dir().join(format!("mailplane-sd-{}", std::process::id()));
        let inner = base.join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(closed_ancestor(&inner), None);
        std::fs::set_permissions(base.join("a"), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(closed_ancestor(&inner), Some(base.join("a")));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn names_differ_per_data_folder() {
        assert_ne!(
            name_for(Path::new("/a/.mailplane")),
            name_for(Path::new("/b/.mailplane"))
        );
        assert_eq!(name_for(Path::new("/a")), name_for(Path::new("/a")));
    }
}
