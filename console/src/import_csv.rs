//! The member import file: KooMail's template columns as CSV (UTF-8, a BOM from Excel is
//! fine), in Chinese or English headers, read into the rows `app::member::import` takes.

use app::member::NewMember;
use chrono::NaiveDate;
use domain::member::{EmploymentType, RoleLabel};
use uuid::Uuid;

use crate::read::DepartmentRow;

/// The template's columns: (Chinese header, English header).
pub const COLUMNS: [(&str, &str); 9] = [
    ("员工姓名", "name"),
    ("账号", "account"),
    ("密码", "password"),
    ("手机号", "phone"),
    ("邮箱", "email"),
    ("角色", "role"),
    ("部门", "department"),
    ("人员类型", "employment_type"),
    ("入职时间", "hire_date"),
];

/// Most bytes an uploaded file may have (1,000 rows fit many times over).
pub const MAX_BYTES: usize = 1024 * 1024;

/// The template a manager downloads: the headers and one example row.
pub fn template(organization_name: &str) -> String {
    let header: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let example = [
        "小华",
        "xiaohua",
        "Xh-Passw0rd!9",
        "15900000000",
        "",
        "成员",
        organization_name,
        "正式",
        "2024/01/01",
    ];
    // The headers are ours and plain; the example row carries the organization's name.
    let row: Vec<String> = example.iter().map(|c| cell(c)).collect();
    format!("\u{feff}{}\r\n{}\r\n", header.join(","), row.join(","))
}

/// A CSV cell, the one way every file of the console writes one: quoted (a comma or a
/// quote in a name stays in its column), and a leading `=`, `+`, `-` or `@` defused so a
/// spreadsheet never runs it as a formula.
pub(crate) fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// One line of the file: what was read, or why it cannot be.
#[derive(Debug)]
pub struct Line {
    /// 1-based line number in the file (the header is line 1).
    pub number: usize,
    pub name: String,
    pub account: String,
    pub phone: String,
    pub department: String,
    pub read: Result<NewMember, (String, String)>,
}

/// Why a file cannot be read at all.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than 1 MiB")]
    TooLarge,
    #[error("the file is not UTF-8 text (save it as CSV UTF-8)")]
    NotText,
    #[error("the first line must name the columns of the template; missing: {0}")]
    Header(String),
    #[error("line {0} cannot be read as CSV")]
    Csv(usize),
}

/// Reads the file's lines against the organization's departments.
pub fn read(
    bytes: &[u8],
    organization_name: &str,
    departments: &[DepartmentRow],
) -> Result<Vec<Line>, FileError> {
    if bytes.len() > MAX_BYTES {
        return Err(FileError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| FileError::NotText)?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|_| FileError::Csv(1))?.clone();
    let index_of = |(zh, en): (&str, &str)| {
        headers
            .iter()
            .position(|h| h == zh || h.eq_ignore_ascii_case(en))
    };
    let columns: Vec<Option<usize>> = COLUMNS.iter().map(|c| index_of(*c)).collect();
    let missing: Vec<&str> = COLUMNS[..3]
        .iter()
        .zip(&columns)
        .filter(|(_, i)| i.is_none())
        .map(|(c, _)| c.0)
        .collect();
    if !missing.is_empty() {
        return Err(FileError::Header(missing.join(", ")));
    }
    let mut lines = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let number = i + 2;
        let record = record.map_err(|_| FileError::Csv(number))?;
        let cell = |c: usize| {
            columns[c]
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        if record.iter().all(|c| c.is_empty()) {
            continue;
        }
        let read = row(&cell, organization_name, departments);
        lines.push(Line {
            number,
            name: cell(0),
            account: cell(1),
            phone: cell(3),
            department: cell(6),
            read,
        });
    }
    Ok(lines)
}

fn row(
    cell: &dyn Fn(usize) -> String,
    organization_name: &str,
    departments: &[DepartmentRow],
) -> Result<NewMember, (String, String)> {
    let optional = |c: usize| Some(cell(c)).filter(|v| !v.is_empty());
    let role = match cell(5).as_str() {
        "" | "成员" => None,
        "管理员" => Some(RoleLabel::Admin),
        other if other.eq_ignore_ascii_case("member") => None,
        other if other.eq_ignore_ascii_case("admin") => Some(RoleLabel::Admin),
        _ => return Err(("role".into(), "must be 成员 or 管理员".into())),
    };
    let employment_type = match cell(7).as_str() {
        "" | "正式" => None,
        "实习" => Some(EmploymentType::Intern),
        "劳务派遣" => Some(EmploymentType::Dispatched),
        "劳务外包" => Some(EmploymentType::Outsourced),
        _ => {
            return Err((
                "employmentType".into(),
                "must be 正式, 实习, 劳务派遣 or 劳务外包".into(),
            ))
        }
    };
    let hire_date = match cell(8).as_str() {
        "" => None,
        d => Some(
            NaiveDate::parse_from_str(d, "%Y/%m/%d")
                .or_else(|_| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
                .map_err(|_| ("hireDate".to_owned(), "must be YYYY/MM/DD".to_owned()))?,
        ),
    };
    let department_id = department(&cell(6), organization_name, departments)
        .map_err(|_| ("departmentId".to_owned(), "no such department".to_owned()))?;
    Ok(NewMember {
        name: cell(0),
        account: cell(1),
        phone: optional(3),
        email: optional(4),
        password: cell(2),
        department_id,
        role,
        employment_type,
        hire_date,
    })
}

/// A department path `公司名/研发部/前端` (the organization's name first, or not) → its id.
fn department(
    path: &str,
    organization_name: &str,
    departments: &[DepartmentRow],
) -> Result<Option<Uuid>, ()> {
    let mut parts: Vec<&str> = path
        .split('/')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.first() == Some(&organization_name) {
        parts.remove(0);
    }
    let mut parent = None;
    for part in parts {
        parent = Some(
            departments
                .iter()
                .find(|d| d.parent_id == parent && d.name == part)
                .ok_or(())?
                .id,
        );
    }
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps() -> Vec<DepartmentRow> {
        let rd = Uuid::now_v7();
        vec![
            DepartmentRow {
                id: rd,
                name: "研发部".into(),
                parent_id: None,
            },
            DepartmentRow {
                id: Uuid::now_v7(),
                name: "前端".into(),
                parent_id: Some(rd),
            },
        ]
    }

    #[test]
    fn the_template_reads_back_as_one_good_row() {
        let lines = read(template("阿克米").as_bytes(), "阿克米", &deps()).unwrap();
        // A name that would be a formula or a new column stays one cell, defused.
        let hostile = template("=HYPERLINK(\"http://x\"),evil");
        assert!(
            hostile.contains("\"'=HYPERLINK(\"\"http://x\"\"),evil\""),
            "{hostile}"
        );
        assert_eq!(hostile.lines().nth(1).unwrap().matches("\",\"").count(), 8);
        assert_eq!(lines.len(), 1);
        let row = lines[0].read.as_ref().unwrap();
        assert_eq!((row.account.as_str(), lines[0].number), ("xiaohua", 2));
        assert_eq!(
            row.department_id, None,
            "the organization itself is the root"
        );
    }

    #[test]
    fn department_paths_english_headers_and_bad_cells() {
        let d = deps();
        let text = "Name,Account,Password,Department,Role,Hire_Date\n\
                    甲,a1,Zw-Passw0rd!9,阿克米/研发部/前端,,\n\
                    乙,a2,Zw-Passw0rd!9,研发部/后端,,\n\
                    丙,a3,Zw-Passw0rd!9,,老板,\n\
                    丁,a4,Zw-Passw0rd!9,,,2024-13-01\n\
                    ,,,,,\n";
        let lines = read(text.as_bytes(), "阿克米", &d).unwrap();
        assert_eq!(lines.len(), 4, "the empty line is skipped");
        assert_eq!(lines[0].read.as_ref().unwrap().department_id, Some(d[1].id));
        let fields: Vec<String> = lines[1..]
            .iter()
            .map(|l| l.read.as_ref().unwrap_err().0.clone())
            .collect();
        assert_eq!(fields, ["departmentId", "role", "hireDate"]);
    }

    #[test]
    fn unreadable_files_are_refused_whole() {
        assert_eq!(read(b"", "x", &[]).unwrap_err(), FileError::Empty);
        assert_eq!(
            read(&[0xff, 0xfe, 0x00], "x", &[]).unwrap_err(),
            FileError::NotText
        );
        assert_eq!(
            read("姓名,手机\n张三,1\n".as_bytes(), "x", &[]).unwrap_err(),
            FileError::Header("员工姓名, 账号, 密码".into())
        );
        let huge = vec![b'a'; MAX_BYTES + 1];
        assert_eq!(read(&huge, "x", &[]).unwrap_err(), FileError::TooLarge);
    }
}
