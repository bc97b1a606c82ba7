//! `--shard K/N`: a stable split of the files between machines or processes.

use std::path::Path;

use super::stable_hash;

/// This run does the files whose stable path hash falls in shard K of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard takes K/N (e.g. 2/8), got '{text}'"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("--shard: '{k}' is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard: '{n}' is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("--shard K/N needs 1 ≤ K ≤ N, got {index}/{count}"));
        }
        Ok(Shard { index, count })
    }

    /// Whether the file at `input_rel` belongs to this shard. Depends only on the path
    /// relative to the input folder, so every machine agrees.
    pub fn contains(&self, input_rel: &Path) -> bool {
        let key = input_rel.to_string_lossy().replace('\\', "/");
        stable_hash(key.as_bytes()) % self.count as u64 == (self.index - 1) as u64
    }

    /// `K-of-N`, as in file names.
    pub fn label(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// The report file a shard writes: `podclean-report.K-of-N.json`.
    pub fn report_name(&self) -> String {
        format!("podclean-report.{}.json", self.label())
    }

    /// The shard a report file name belongs to, if it is a shard report's name.
    pub fn of_report_name(name: &str) -> Option<Shard> {
        let label = name.strip_prefix("podclean-report.")?.strip_suffix(".json")?;
        let (k, n) = label.split_once("-of-")?;
        Shard::parse(&format!("{k}/{n}")).ok()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn shards_partition_the_files() {
        let paths: Vec<PathBuf> = (0..500).map(|i| PathBuf::from(format!("show/ep{i}.mp3"))).collect();
        let shards: Vec<Shard> = (1..=4).map(|k| Shard { index: k, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for p in &paths {
            let owners: Vec<usize> = (0..4).filter(|&i| shards[i].contains(p)).collect();
            assert_eq!(owners.len(), 1, "{p:?} belongs to exactly one shard");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 80), "roughly even: {sizes:?}");
    }

    #[test]
    fn shard_parsing_and_report_names() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { index: 2, count: 8 });
        assert!(Shard::parse("0/8").is_err());
        assert!(Shard::parse("9/8").is_err());
        assert!(Shard::parse("x").is_err());
        let shard = Shard { index: 3, count: 5 };
        assert_eq!(Shard::of_report_name(&shard.report_name()), Some(shard));
        assert_eq!(Shard::of_report_name("podclean-report.json"), None);
        assert_eq!(Shard::of_report_name("podclean-report.6-of-5.json"), None);
    }
}
