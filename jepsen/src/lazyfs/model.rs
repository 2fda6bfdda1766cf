//! The pure model of one file's unsynced state: what a process wrote since
//! the last `fsync`, kept as dirty pages over the file's durable content.
//!
//! The durable content is the backing file (read through [`Base`]); the
//! model never writes it. [`FileOverlay::sync_plan`] says what an `fsync`
//! must write so the backing file equals what the process sees, and
//! [`FileOverlay`] is simply dropped on a simulated power loss, which leaves
//! the backing file (the last synced content and length) as the truth.
//!
//! Pages are whole (`PAGE_SIZE`) copies of the logical content: a partial
//! write first copies the page's durable bytes in (read-modify-write, as the
//! kernel's page cache does), so a dirty page never depends on the base.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::SystemTime;

/// Granularity of unsynced state, the page size of the kernel's page cache.
pub const PAGE_SIZE: u64 = 4096;

/// Largest file length accepted (offsets are `off_t`, signed 64-bit).
pub const MAX_FILE_LEN: u64 = i64::MAX as u64;

/// Read access to a file's durable content. Reads past its end return
/// fewer bytes (0 at or past the end), like `pread`.
pub trait Base {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Base for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl Base for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        let Some(rest) = self.get(start..) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

impl Base for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.as_slice().read_at(buf, offset)
    }
}

/// Fills `buf` from `base` at `offset`; bytes past the base's end stay zero.
pub fn read_full(base: &dyn Base, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match base.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf[done..].fill(0);
    Ok(())
}

/// What an `fsync` must do to the backing file, in order: truncate (when
/// a pending truncate hid durable bytes that later writes do not cover, so
/// they read as zeros), write each run of dirty bytes, set the final length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    pub truncate_to: Option<u64>,
    pub writes: Vec<(u64, Vec<u8>)>,
    pub final_len: u64,
}

impl SyncPlan {
    /// Bytes the plan writes (the data an `fsync` makes durable).
    pub fn bytes(&self) -> u64 {
        self.writes.iter().map(|(_, d)| d.len() as u64).sum()
    }
}

/// One file's unsynced state over its durable (backing) content.
///
/// Invariants: `base_valid <= synced_len`, `base_valid <= len`; every
/// dirty page is `PAGE_SIZE` long, lies (at least partly) below `len`, and
/// is zero past `len`.
#[derive(Debug, Clone)]
pub struct FileOverlay {
    /// Length of the backing file: what a crash leaves.
    synced_len: u64,
    /// Backing bytes at or past this offset are hidden (a truncate below
    /// them has not been synced) and read as zeros where no page covers them.
    base_valid: u64,
    /// The length the process sees.
    len: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
    /// Set by writes and truncates, reported as the file's mtime.
    mtime: Option<SystemTime>,
}

impl FileOverlay {
    /// A clean overlay over a backing file of `synced_len` bytes.
    pub fn new(synced_len: u64) -> Self {
        Self {
            synced_len,
            base_valid: synced_len,
            len: synced_len,
            pages: BTreeMap::new(),
            mtime: None,
        }
    }

    /// The length the process sees.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn mtime(&self) -> Option<SystemTime> {
        self.mtime
    }

    /// An explicit `utimensat` set the backing mtime; report that one.
    pub fn clear_mtime(&mut self) {
        self.mtime = None;
    }

    /// Nothing to sync: the backing file already is what the process sees.
    pub fn is_clean(&self) -> bool {
        self.pages.is_empty() && self.len == self.synced_len && self.base_valid == self.synced_len
    }

    /// Bytes held in dirty pages (below `len`): what a crash would lose.
    pub fn dirty_bytes(&self) -> u64 {
        self.pages
            .keys()
            .map(|&p| ((p * PAGE_SIZE + PAGE_SIZE).min(self.len)).saturating_sub(p * PAGE_SIZE))
            .sum()
    }

    /// Memory the dirty pages take.
    pub fn dirty_pages(&self) -> usize {
        self.pages.len()
    }

    /// Writes `data` at `offset`, extending the file if needed.
    pub fn write(
        &mut self,
        offset: u64,
        data: &[u8],
        base: &dyn Base,
        now: SystemTime,
    ) -> io::Result<()> {
        let end = checked_end(offset, data.len() as u64)?;
        if data.is_empty() {
            return Ok(());
        }
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let page = pos / PAGE_SIZE;
            let in_page = (pos % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(data.len() - done);
            let buf = self.page_mut(page, base)?;
            buf[in_page..in_page + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.len = self.len.max(end);
        self.mtime = Some(now);
        Ok(())
    }

    /// `ftruncate`: shrinking drops the bytes past `new_len` (they read as
    /// zeros if the file grows again); growing adds zeros.
    pub fn set_len(&mut self, new_len: u64, now: SystemTime) -> io::Result<()> {
        if new_len > MAX_FILE_LEN {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
        if new_len < self.len {
            let first_gone = new_len.div_ceil(PAGE_SIZE);
            self.pages.split_off(&first_gone);
            let tail = (new_len % PAGE_SIZE) as usize;
            if tail > 0 {
                if let Some(p) = self.pages.get_mut(&(new_len / PAGE_SIZE)) {
                    p[tail..].fill(0);
                }
            }
            self.base_valid = self.base_valid.min(new_len);
        }
        self.len = new_len;
        self.mtime = Some(now);
        Ok(())
    }

    /// Reads up to `size` bytes at `offset` of what the process sees.
    pub fn read(&self, offset: u64, size: u32, base: &dyn Base) -> io::Result<Vec<u8>> {
        if offset >= self.len {
            return Ok(Vec::new());
        }
        let end = offset.saturating_add(u64::from(size)).min(self.len);
        let mut out = vec![0u8; (end - offset) as usize];
        let base_end = end.min(self.base_valid);
        if base_end > offset {
            read_full(base, &mut out[..(base_end - offset) as usize], offset)?;
        }
        let first = offset / PAGE_SIZE;
        let last = (end - 1) / PAGE_SIZE;
        for (&page, buf) in self.pages.range(first..=last) {
            let page_start = page * PAGE_SIZE;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE_SIZE);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&buf[(from - page_start) as usize..(to - page_start) as usize]);
        }
        Ok(out)
    }

    /// What an `fsync` must write. Once applied, the backing file is what
    /// the process sees and the overlay can be dropped.
    pub fn sync_plan(&self) -> SyncPlan {
        let truncate_to = (self.base_valid < self.synced_len).then_some(self.base_valid);
        let mut writes: Vec<(u64, Vec<u8>)> = Vec::new();
        for (&page, buf) in &self.pages {
            let start = page * PAGE_SIZE;
            let n = (start + PAGE_SIZE).min(self.len).saturating_sub(start) as usize;
            match writes.last_mut() {
                Some((off, run)) if *off + run.len() as u64 == start => {
                    run.extend_from_slice(&buf[..n])
                }
                _ => writes.push((start, buf[..n].to_vec())),
            }
        }
        SyncPlan {
            truncate_to,
            writes,
            final_len: self.len,
        }
    }

    /// The plan from [`Self::sync_plan`] reached the backing file.
    #[cfg(test)]
    pub fn mark_synced(&mut self) {
        self.pages.clear();
        self.synced_len = self.len;
        self.base_valid = self.len;
    }

    /// The page, copied from the base first if it is not dirty yet.
    fn page_mut(&mut self, page: u64, base: &dyn Base) -> io::Result<&mut Box<[u8]>> {
        if !self.pages.contains_key(&page) {
            let mut buf = vec![0u8; PAGE_SIZE as usize].into_boxed_slice();
            let start = page * PAGE_SIZE;
            // Durable bytes count only below both the visible length and
            // a pending truncate; the rest of the page is zeros.
            let valid_end = self.base_valid.min(self.len);
            if valid_end > start {
                let n = (valid_end - start).min(PAGE_SIZE) as usize;
                read_full(base, &mut buf[..n], start)?;
            }
            self.pages.insert(page, buf);
        }
        self.pages
            .get_mut(&page)
            .ok_or_else(|| io::Error::other("dirty page vanished"))
    }
}

fn checked_end(offset: u64, len: u64) -> io::Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_FILE_LEN => Ok(end),
        _ => Err(io::Error::from_raw_os_error(libc::EFBIG)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH
    }

    /// Applies a plan to an in-memory backing file, as the filesystem does.
    fn apply(plan: &SyncPlan, disk: &mut Vec<u8>) {
        if let Some(t) = plan.truncate_to {
            disk.truncate(t as usize);
        }
        for (off, data) in &plan.writes {
            let end = *off as usize + data.len();
            if disk.len() < end {
                disk.resize(end, 0);
            }
            disk[*off as usize..end].copy_from_slice(data);
        }
        disk.resize(plan.final_len as usize, 0);
    }

    fn read_all(o: &FileOverlay, disk: &dyn Base) -> Vec<u8> {
        o.read(0, u32::MAX, disk).unwrap()
    }

    #[test]
    fn unsynced_write_is_visible_but_not_durable() {
        let disk = b"hello".to_vec();
        let mut o = FileOverlay::new(5);
        o.write(5, b" world", &disk, now()).unwrap();
        assert_eq!(read_all(&o, &disk), b"hello world");
        assert_eq!(o.dirty_bytes(), 11, "the whole first page is dirty");
        // A crash drops the overlay: the disk is what remains.
        assert_eq!(disk, b"hello");
    }

    #[test]
    fn partial_page_write_keeps_durable_bytes_around_it() {
        let disk: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut o = FileOverlay::new(disk.len() as u64);
        o.write(4090, &[0xAA; 10], &disk, now()).unwrap();
        let seen = read_all(&o, &disk);
        let mut want = disk.clone();
        want[4090..4100].fill(0xAA);
        assert_eq!(seen, want);
        let plan = o.sync_plan();
        assert_eq!(plan.truncate_to, None);
        assert_eq!(plan.writes.len(), 1, "two adjacent pages coalesce");
        assert_eq!(plan.writes[0].0, 0);
        assert_eq!(plan.writes[0].1.len(), 8192);
        let mut d = disk.clone();
        apply(&plan, &mut d);
        assert_eq!(d, want);
    }

    #[test]
    fn truncate_then_extend_reads_zeros_and_syncs_them() {
        let disk = vec![7u8; 9000];
        let mut o = FileOverlay::new(9000);
        o.set_len(100, now()).unwrap();
        o.set_len(9000, now()).unwrap();
        let seen = read_all(&o, &disk);
        assert_eq!(&seen[..100], &[7u8; 100][..]);
        assert!(seen[100..].iter().all(|&b| b == 0));
        let plan = o.sync_plan();
        assert_eq!(plan.truncate_to, Some(100));
        let mut d = disk.clone();
        apply(&plan, &mut d);
        assert_eq!(d, seen);
    }

    #[test]
    fn write_past_a_pending_truncate_does_not_resurrect_old_bytes() {
        let disk = vec![9u8; 4096];
        let mut o = FileOverlay::new(4096);
        o.set_len(10, now()).unwrap();
        o.write(20, b"x", &disk, now()).unwrap();
        let seen = read_all(&o, &disk);
        assert_eq!(seen.len(), 21);
        assert_eq!(&seen[..10], &[9u8; 10][..]);
        assert_eq!(&seen[10..20], &[0u8; 10][..]);
        assert_eq!(seen[20], b'x');
    }

    #[test]
    fn offsets_past_the_largest_file_are_refused() {
        let mut o = FileOverlay::new(0);
        let err = o.write(MAX_FILE_LEN, b"x", &Vec::new(), now()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EFBIG));
        let err = o.write(u64::MAX, b"x", &Vec::new(), now()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EFBIG));
        assert!(o.set_len(u64::MAX, now()).is_err());
        assert!(o.is_clean());
        assert!(o.read(u64::MAX, u32::MAX, &Vec::new()).unwrap().is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(u64, Vec<u8>),
        SetLen(u64),
        Sync,
        Crash,
        Read(u64, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..20_000, prop::collection::vec(any::<u8>(), 0..6000))
                .prop_map(|(o, d)| Op::Write(o, d)),
            2 => (0u64..20_000).prop_map(Op::SetLen),
            1 => Just(Op::Sync),
            1 => Just(Op::Crash),
            2 => (0u64..22_000, 0u32..9000).prop_map(|(o, n)| Op::Read(o, n)),
        ]
    }

    proptest! {
        /// Against the obvious reference: two byte vectors, what the process
        /// sees and what is durable.
        #[test]
        fn matches_a_two_copy_reference(ops in prop::collection::vec(op(), 1..40)) {
            let mut disk: Vec<u8> = vec![3u8; 5000];
            let mut seen = disk.clone();
            let mut o = FileOverlay::new(disk.len() as u64);
            for op in ops {
                match op {
                    Op::Write(off, data) => {
                        o.write(off, &data, &disk, now()).unwrap();
                        let end = off as usize + data.len();
                        if !data.is_empty() {
                            if seen.len() < end { seen.resize(end, 0); }
                            seen[off as usize..end].copy_from_slice(&data);
                        }
                    }
                    Op::SetLen(n) => {
                        o.set_len(n, now()).unwrap();
                        seen.resize(n as usize, 0);
                    }
                    Op::Sync => {
                        let plan = o.sync_plan();
                        apply(&plan, &mut disk);
                        o.mark_synced();
                        prop_assert_eq!(&disk, &seen);
                        prop_assert!(o.is_clean());
                    }
                    Op::Crash => {
                        o = FileOverlay::new(disk.len() as u64);
                        seen = disk.clone();
                    }
                    Op::Read(off, n) => {
                        let got = o.read(off, n, &disk).unwrap();
                        let from = (off as usize).min(seen.len());
                        let to = (off as usize + n as usize).min(seen.len());
                        prop_assert_eq!(&got[..], &seen[from..to]);
                    }
                }
                prop_assert_eq!(o.len(), seen.len() as u64);
                prop_assert_eq!(read_all(&o, &disk), seen.clone());
            }
        }
    }
}
