//! The accounts file of a migration task: UTF-8 (a BOM is allowed), one account per line
//! as `old account, old password, target mailbox`, an optional header line, at most 1,000
//! accounts. Each bad line is reported with its number before anything is written.

use domain::migration::{validate_old_account, MAX_ACCOUNTS};
use domain::DomainError;

/// The longest old password accepted.
const MAX_PASSWORD_LEN: usize = 256;

/// One account line as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Its line in the file (the first line is 1).
    pub line: u32,
    pub old_account: String,
    pub old_password: String,
    /// The target mailbox's address, lower case.
    pub target: String,
}

/// A line that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRefusal {
    pub line: u32,
    pub field: &'static str,
    pub message: String,
}

/// Why the whole file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    Empty,
    TooMany(usize),
}

impl From<FileRefusal> for DomainError {
    fn from(r: FileRefusal) -> Self {
        match r {
            FileRefusal::Empty => DomainError::Validation {
                field: "csv",
                message: "the file holds no account".into(),
            },
            FileRefusal::TooMany(rows) => DomainError::ImportTooLarge {
                rows,
                max: MAX_ACCOUNTS,
            },
        }
    }
}

/// Reads the file: its good rows and its refused lines, or why the whole file is refused.
pub fn read(text: &str) -> Result<(Vec<AccountRow>, Vec<RowRefusal>), FileRefusal> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    let mut first = true;
    let mut record = csv::StringRecord::new();
    loop {
        // Counted from the byte offset where the record starts: the reader's own line
        // count lags a line behind on CRLF files.
        let start = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
        let line = line_at(text, start);
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                refused.push(RowRefusal {
                    line,
                    field: "csv",
                    message: "this line is not valid CSV".into(),
                });
                if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    continue;
                }
                break;
            }
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A header names the columns; a data line's third cell is an address.
        if std::mem::take(&mut first) && !record.get(2).is_some_and(|t| t.contains('@')) {
            continue;
        }
        match row(line, &record) {
            Ok(r) => rows.push(r),
            Err(r) => refused.push(r),
        }
    }
    let total = rows.len() + refused.len();
    if total == 0 {
        return Err(FileRefusal::Empty);
    }
    if total > MAX_ACCOUNTS {
        return Err(FileRefusal::TooMany(total));
    }
    Ok((rows, refused))
}

/// The 1-based line of a byte offset, skipping the blank lines a record may start after.
fn line_at(text: &str, offset: usize) -> u32 {
    let before = text.get(..offset).unwrap_or(text);
    let after = text.get(offset..).unwrap_or("");
    let blank = after.len() - after.trim_start_matches(['\r', '\n']).len();
    let skipped = after.get(..blank).unwrap_or("").matches('\n').count();
    u32::try_from(before.matches('\n').count() + skipped + 1).unwrap_or(u32::MAX)
}

fn row(line: u32, record: &csv::StringRecord) -> Result<AccountRow, RowRefusal> {
    let refuse = |field, message: &str| RowRefusal {
        line,
        field,
        message: message.to_owned(),
    };
    if record.len() != 3 {
        return Err(refuse(
            "csv",
            "three columns are expected: old account, old password, target mailbox",
        ));
    }
    let old_account = record[0].to_owned();
    if let Err(DomainError::Validation { message, .. }) = validate_old_account(&old_account) {
        return Err(refuse("oldAccount", &message));
    }
    let old_password = record[1].to_owned();
    if old_password.is_empty()
        || old_password.len() > MAX_PASSWORD_LEN
        || old_password.chars().any(char::is_control)
    {
        return Err(refuse(
            "oldPassword",
            "1 to 256 characters, no control characters",
        ));
    }
    let target = record[2].to_lowercase();
    let valid_target = target
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
    if !valid_target {
        return Err(refuse(
            "targetMailbox",
            "an address like zhangwei@example.cn",
        ));
    }
    Ok(AccountRow {
        line,
        old_account,
        old_password,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_and_a_header_are_skipped_and_lines_keep_their_numbers() {
        let text = "\u{feff}old account,old password,target mailbox\r\nzhang@old.cn,p1,Zhang@new.cn\r\nli@old.cn,p2,li@new.cn\r\n";
        let (rows, refused) = read(text).unwrap();
        assert!(refused.is_empty());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].target, "zhang@new.cn");
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].old_password, "p2");
    }

    #[test]
    fn bad_lines_are_reported_by_number() {
        // Tried: two columns, an empty password, a target that is no address, a space in
        // the old account, four columns.
        let text = "a@old.cn,p,a@new.cn\nb@old.cn,b@new.cn\nc@old.cn,,c@new.cn\nd@old.cn,p,nobody\ne f@old.cn,p,e@new.cn\ng@old.cn,p,g@new.cn,extra\n";
        let (rows, refused) = read(text).unwrap();
        assert_eq!(rows.len(), 1);
        let lines: Vec<(u32, &str)> = refused.iter().map(|r| (r.line, r.field)).collect();
        assert_eq!(
            lines,
            [
                (2, "csv"),
                (3, "oldPassword"),
                (4, "targetMailbox"),
                (5, "oldAccount"),
                (6, "csv")
            ]
        );
    }

    #[test]
    fn a_thousand_accounts_pass_and_one_more_refuses_the_file() {
        let line = |i: usize| format!("u{i}@old.cn,p,u{i}@new.cn\n");
        let ok: String = (0..1_000).map(line).collect();
        assert_eq!(read(&ok).unwrap().0.len(), 1_000);
        let too_many: String = (0..1_001).map(line).collect();
        assert_eq!(read(&too_many), Err(FileRefusal::TooMany(1_001)));
        assert_eq!(read(""), Err(FileRefusal::Empty));
        assert_eq!(read("old,pass,target\n"), Err(FileRefusal::Empty));
    }
}
