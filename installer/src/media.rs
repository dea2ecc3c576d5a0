//! The installer medium (the ISO, mounted or copied): `SHA256SUMS` lists every file on it and
//! `SHA256SUMS.sig` signs that list with a vendor key, the same keys licenses are checked
//! against. Nothing from the medium is used before the signature and every listed file's
//! checksum check out.

use std::io::Read;
use std::path::{Path, PathBuf};

use outpost::license::{release_signature, vendor_keys};
use sha2::{Digest, Sha256};

use crate::host::Host;

pub const SUMS: &str = "SHA256SUMS";
/// The offline Debian repository: packages and their `Packages` index.
pub const DEBIAN_REPOSITORY: &str = "debian";
pub const PACKAGES: &str = "packages";

/// A medium whose files all checked out.
#[derive(Debug)]
pub struct Media {
    pub root: PathBuf,
    /// The key that signed it.
    pub signed_by: String,
    pub files: usize,
}

impl Media {
    pub fn open(root: &Path) -> Result<Media, String> {
        let sums_path = root.join(SUMS);
        let sums = std::fs::read(&sums_path)
            .map_err(|e| format!("{} is not an Outpost installer medium: cannot read {SUMS} ({e}).", root.display()))?;
        let signature = std::fs::read_to_string(root.join(format!("{SUMS}.sig")))
            .map_err(|e| format!("The medium's {SUMS}.sig cannot be read ({e}); it cannot be trusted without it."))?;
        let signed_by = release_signature::verify(&sums, &signature, &vendor_keys::trusted())
            .map_err(|e| format!("The medium's {SUMS} is not trusted: {e}"))?;
        let text = String::from_utf8(sums).map_err(|_| format!("The medium's {SUMS} is not text."))?;
        let mut files = 0;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let (expected, name) = line
                .split_once("  ")
                .ok_or_else(|| format!("The medium's {SUMS} has a line that is not “HASH  FILE”: {line}"))?;
            let relative = Path::new(name.trim_start_matches("./"));
            if relative.is_absolute() || relative.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(format!("The medium's {SUMS} names a file outside the medium: {name}"));
            }
            let actual = sha256_of(&root.join(relative))?;
            if actual != expected {
                return Err(format!(
                    "{name} on the medium does not match its checksum: the medium is damaged or was changed; copy it again."
                ));
            }
            files += 1;
        }
        Ok(Media { root: root.to_owned(), signed_by, files })
    }

    /// The .deb or .rpm of Outpost on the medium.
    pub fn package(&self, extension: &str) -> Result<PathBuf, String> {
        let folder = self.root.join(PACKAGES);
        std::fs::read_dir(&folder)
            .map_err(|e| format!("The medium has no {PACKAGES}/ folder: {e}."))?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|e| e == extension))
            .ok_or_else(|| format!("The medium holds no .{extension} package in {PACKAGES}/."))
    }

    /// `apt-get install PACKAGES` (names, or paths of .deb files) with the medium's repository
    /// as the only source: an air-gapped machine's other sources would fail. `trusted=yes`
    /// stands for apt's own signature check: the repository's index and packages were checked
    /// in `open`, under the vendor's signature.
    pub fn apt_install(&self, host: &Host, packages: &[&str]) -> Result<(), String> {
        let list = std::env::temp_dir().join(format!("outpost-medium-{}.list", std::process::id()));
        let repository = self.root.join(DEBIAN_REPOSITORY);
        std::fs::write(&list, format!("deb [trusted=yes] file:{} ./\n", repository.display()))
            .map_err(|e| format!("Cannot write {}: {e}.", list.display()))?;
        let only_medium = format!("-oDir::Etc::SourceList={}", list.display());
        let options = [only_medium.as_str(), "-oDir::Etc::SourceParts=-", "-oAPT::Get::List-Cleanup=0"];
        let installed = host.run("apt-get", &[&options[..], &["update"]].concat()).and_then(|_| {
            host.run("apt-get", &[&options[..], &["install", "-y", "--no-install-recommends"], packages].concat())
        });
        let _ = std::fs::remove_file(&list);
        installed.map(|_| ())
    }
}

/// A medium given as an .iso file, made a folder: extracted with xorriso where the machine has
/// it (no loop device or iso9660 driver needed), else mounted read-only on a loop device.
/// Removed, or unmounted, when dropped.
pub struct Unpacked {
    pub dir: PathBuf,
    mounted: bool,
}

pub fn unpack_iso(iso: &Path) -> Result<Unpacked, String> {
    // xorriso takes a missing file for a blank medium.
    if !iso.is_file() {
        return Err(format!("Cannot open {} as an installer medium: there is no such file.", iso.display()));
    }
    let dir = std::env::temp_dir().join(format!("outpost-medium-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("Cannot create {}: {e}.", dir.display()))?;
    let host = Host::new(false);
    let iso_path = iso.to_string_lossy();
    let dir_path = dir.to_string_lossy();
    let xorriso = ["/usr/bin/xorriso", "/bin/xorriso"].into_iter().find(|p| Path::new(p).exists());
    let unpacked = match xorriso {
        Some(xorriso) => host
            .run(xorriso, &["-osirrox", "on", "-indev", &iso_path, "-extract", "/", &dir_path])
            .map(|_| Unpacked { dir: dir.clone(), mounted: false }),
        None => host
            .run("mount", &["-o", "loop,ro", &iso_path, &dir_path])
            .map(|_| Unpacked { dir: dir.clone(), mounted: true }),
    };
    unpacked.map_err(|e| {
        let _ = std::fs::remove_dir_all(&dir);
        format!("Cannot open {} as an installer medium: {e}", iso.display())
    })
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount").arg(&self.dir).status();
            let _ = std::fs::remove_dir(&self.dir);
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn sha256_of(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("Cannot read {}: {e}.", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(|e| format!("Cannot read {}: {e}.", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use outpost::license::vendor_keys::VendorKey;

    fn medium(key: &SigningKey) -> PathBuf {
        let root = std::env::temp_dir().join(format!("outpost-medium-{}", rand::random::<u64>()));
        std::fs::create_dir_all(root.join(PACKAGES)).unwrap();
        std::fs::write(root.join(PACKAGES).join("outpost_0.1.0_amd64.deb"), b"package").unwrap();
        std::fs::write(root.join("install"), b"#!/bin/sh\n").unwrap();
        let sums = format!(
            "{}  packages/outpost_0.1.0_amd64.deb\n{}  ./install\n",
            sha256_of(&root.join(PACKAGES).join("outpost_0.1.0_amd64.deb")).unwrap(),
            sha256_of(&root.join("install")).unwrap()
        );
        std::fs::write(root.join(SUMS), &sums).unwrap();
        std::fs::write(root.join("SHA256SUMS.sig"), release_signature::sign(sums.as_bytes(), "medium-test", key))
            .unwrap();
        root
    }

    #[test]
    fn a_signed_medium_opens_and_a_changed_file_or_list_is_refused() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        vendor_keys::trust_for_testing(VendorKey {
            id: "medium-test".to_owned(),
            public: key.verifying_key().to_bytes(),
        });
        let root = medium(&key);
        let media = Media::open(&root).unwrap();
        assert_eq!((media.signed_by.as_str(), media.files), ("medium-test", 2));
        assert!(media.package("deb").unwrap().ends_with("outpost_0.1.0_amd64.deb"));
        assert!(media.package("rpm").unwrap_err().contains(".rpm"));

        std::fs::write(root.join("install"), b"#!/bin/sh\nrm -rf /\n").unwrap();
        let refusal = Media::open(&root).unwrap_err();
        assert!(refusal.starts_with("./install on the medium does not match its checksum"), "{refusal}");

        let sums = std::fs::read_to_string(root.join(SUMS)).unwrap();
        std::fs::write(root.join(SUMS), sums.replace("./install", "./install2")).unwrap();
        let refusal = Media::open(&root).unwrap_err();
        assert!(refusal.contains("changed after they were signed"), "{refusal}");

        std::fs::remove_file(root.join("SHA256SUMS.sig")).unwrap();
        assert!(Media::open(&root).unwrap_err().contains("SHA256SUMS.sig"));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn an_iso_file_is_unpacked_then_checked_like_a_folder() {
        let key = SigningKey::from_bytes(&[10u8; 32]);
        vendor_keys::trust_for_testing(VendorKey {
            id: "iso-file-test".to_owned(),
            public: key.verifying_key().to_bytes(),
        });
        let root = medium(&key);
        let sums = std::fs::read(root.join(SUMS)).unwrap();
        std::fs::write(root.join("SHA256SUMS.sig"), release_signature::sign(&sums, "iso-file-test", &key)).unwrap();
        let iso = root.with_extension("iso");
        let made = std::process::Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-joliet", "-rational-rock", "-output"])
            .arg(&iso)
            .arg(&root)
            .output()
            .expect("xorriso (Debian: apt-get install xorriso)");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let unpacked = unpack_iso(&iso).unwrap();
        let media = Media::open(&unpacked.dir).unwrap();
        assert_eq!(media.files, 2);
        let dir = unpacked.dir.clone();
        drop(unpacked);
        assert!(!dir.exists(), "the unpacked medium is removed");
        assert!(unpack_iso(Path::new("/nonexistent.iso")).err().unwrap().starts_with("Cannot open /nonexistent.iso"));
        std::fs::remove_file(iso).unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }
}
