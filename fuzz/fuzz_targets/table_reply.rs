//! Table API replies as the connector reads them: a page (`{"result":[...]}`) or one record
//! (`{"result":{...}}`), and every field of every record read as text. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snowbridge::api::Record;

fn read(record: &Record) {
    for (name, value) in &record.0 {
        let field = record.field(name);
        match value {
            serde_json::Value::String(s) => assert_eq!(field, Some(s.as_str())),
            serde_json::Value::Object(o) => {
                assert_eq!(field, o.get("value").and_then(|v| v.as_str()))
            }
            _ => assert_eq!(field, None),
        }
    }
    let _ = record.sys_id();
}

fuzz_target!(|data: &[u8]| {
    let (page, one) = snowbridge::fuzzing::table_replies(data);
    for record in page.iter().flatten().chain(one.iter()) {
        read(record);
    }
});
