//! `FileStore`, the token file `mcpwire call` keeps: one per server URL, named by its hash;
//! the directory made 0700 and the file 0600; a round trip; a file its group or others may
//! read is refused, and a good one next to it still read; a save replaces the file whole (a
//! new file renamed over the old, no temporary left behind).

#![cfg(unix)]

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::PathBuf;

use mcpwire_smol::client::oauth::{FileStore, RegisteredClient, StoredAuth, TokenStore, Tokens};

/// A directory of this test's own, removed with it.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("mcpwire-tokens-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn auth(access: &str) -> StoredAuth {
    StoredAuth {
        client: Some(RegisteredClient {
            issuer: "https://as.example".into(),
            client_id: "client-1".into(),
            client_secret: Some("secret".into()),
            auth_method: "client_secret_basic".into(),
        }),
        tokens: Some(Tokens {
            access_token: access.into(),
            refresh_token: Some("refresh".into()),
            scope: Some("mcp".into()),
            expires_in: Some(3600),
            resource: Some("https://mcp.example/mcp".into()),
        }),
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn one_file_per_server_named_by_its_hash() {
    let store = FileStore::in_dir("/d", "https://mcp.example/mcp");
    assert_eq!(
        store.path(),
        std::path::Path::new(
            "/d/b1b747a21dbf8cf489c9454f642df5eb3dd36e8ab0d6b6ffb2d0cdc52513bc80.json"
        )
    );
    assert_ne!(
        store.path(),
        FileStore::in_dir("/d", "https://mcp.example/mcp2").path()
    );
    assert_eq!(
        FileStore::at("/t/x.json").path(),
        std::path::Path::new("/t/x.json")
    );
}

#[test]
fn a_round_trip_in_a_private_file_in_a_private_directory() {
    let temp = TempDir::new("round-trip");
    let dir = temp.0.join("config/mcpwire/tokens");
    let store = FileStore::in_dir(&dir, "https://mcp.example/mcp");
    assert_eq!(store.read().unwrap(), None, "no file, nothing stored");
    assert_eq!(store.load(), None);
    store.write(&auth("a1")).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(
        mode(&temp.0.join("config")),
        0o700,
        "every directory it made"
    );
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(store.read().unwrap(), Some(auth("a1")));
    // Through the trait, as the client uses it.
    store.save(&auth("a2"));
    assert_eq!(store.load(), Some(auth("a2")));
}

#[test]
fn a_file_others_may_read_is_refused() {
    let temp = TempDir::new("group-readable");
    let store = FileStore::in_dir(&temp.0, "https://mcp.example/mcp");
    store.write(&auth("a1")).unwrap();
    // At the limit: the owner's bits only, read-only included.
    for fine in [0o600, 0o400] {
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(fine)).unwrap();
        assert_eq!(store.read().unwrap(), Some(auth("a1")), "{fine:o}");
    }
    // Past it: any bit for the group or others.
    for loose in [0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o644] {
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(loose)).unwrap();
        let e = store.read().expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{loose:o}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("{loose:04o}")) && text.contains(store.path().to_str().unwrap()),
            "{text}"
        );
        assert_eq!(store.load(), None, "{loose:o}: not used");
    }
}

#[test]
fn a_file_that_is_not_tokens_is_refused() {
    let temp = TempDir::new("junk");
    let store = FileStore::at(temp.0.join("t.json"));
    std::fs::write(store.path(), "not json").unwrap();
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(store.read().unwrap_err().to_string().contains("not JSON"));
    // Not a regular file.
    let dir = FileStore::at(&temp.0);
    assert!(dir.read().is_err());
    // Past the size cap (256 KiB).
    let big = format!("{{\"tokens\":null,\"pad\":\"{}\"}}", "x".repeat(256 * 1024));
    std::fs::write(store.path(), big).unwrap();
    assert!(store.read().unwrap_err().to_string().contains("256 KiB"));
}

#[test]
fn a_save_replaces_the_file_whole() {
    let temp = TempDir::new("atomic");
    let store = FileStore::in_dir(&temp.0, "https://mcp.example/mcp");
    store.write(&auth("old")).unwrap();
    let before = std::fs::metadata(store.path()).unwrap().ino();
    // A reader that opened the old file keeps reading it whole.
    let mut reader = std::fs::File::open(store.path()).unwrap();
    store.write(&auth("new")).unwrap();
    let after = std::fs::metadata(store.path()).unwrap().ino();
    assert_ne!(before, after, "a new file, renamed over the old one");
    let mut old = String::new();
    std::io::Read::read_to_string(&mut reader, &mut old).unwrap();
    assert_eq!(
        serde_json::from_str::<StoredAuth>(&old).unwrap(),
        auth("old")
    );
    assert_eq!(store.read().unwrap(), Some(auth("new")));
    assert_eq!(mode(store.path()), 0o600);
    let names: Vec<_> = std::fs::read_dir(&temp.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    // A file that was too open before is replaced by a private one.
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    store.write(&auth("newer")).unwrap();
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(store.read().unwrap(), Some(auth("newer")));
}

#[test]
fn a_save_that_cannot_rename_leaves_nothing_behind() {
    let temp = TempDir::new("cannot-rename");
    // A directory where the file should be: the rename fails, whoever runs the test.
    let store = FileStore::at(temp.0.join("t.json"));
    std::fs::create_dir(store.path()).unwrap();
    std::fs::write(store.path().join("inside"), "x").unwrap();
    let e = store
        .write(&auth("lost"))
        .expect_err("cannot replace a directory");
    assert!(e.to_string().contains("t.json"), "{e}");
    let names: Vec<_> = std::fs::read_dir(&temp.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["t.json"], "the temporary file is removed");
}
