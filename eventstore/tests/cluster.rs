//! The private cluster against another local user: its socket folder and socket are its
//! server's alone, so no one else on the machine connects (as the superuser, under trust).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use eventstore::cluster::{find_binaries, ClusterConfig, LocalCluster};

#[tokio::test]
async fn another_local_user_cannot_reach_the_private_cluster() {
    let dir = std::env::temp_dir().join(format!("mailplane-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Passable by the server's user when the test runs as root.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = ClusterConfig::durable(dir.join("postgres"));
    config.ephemeral = true;
    let cluster = LocalCluster::start(&config).await.unwrap();
    let socket_dir = dir.join("postgres-socket");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket_dir), 0o700, "the socket's folder");
    assert_eq!(mode(&socket_dir.join(".s.PGSQL.5432")), 0o700, "the socket");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // As `nobody`, the way the attack went: psql on the socket folder.
        let psql = find_binaries().unwrap().join("psql");
        let out = std::process::Command::new(psql)
            .args(["-h"])
            .arg(&socket_dir)
            .args(["-U", "mailplane", "-d", "postgres", "-c", "SELECT 1"])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        assert!(!out.status.success(), "nobody connected");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("ermission denied"), "{said}");
    }
    cluster.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
