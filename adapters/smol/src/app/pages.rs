//! The `*/list` results, rendered once and cut into pages: a list costs a copy, not a
//! serialization, and a long one is answered a page at a time with an opaque `nextCursor`.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Error;

/// Items per page when the application does not say ([`AppBuilder::page_size`]).
///
/// [`AppBuilder::page_size`]: super::AppBuilder::page_size
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;

/// What a cursor starts with; the rest is the page's number. Clients treat it as opaque.
const CURSOR_PREFIX: &str = "page-";

/// One list's results, a page each, every page but the last naming the next one's cursor.
#[derive(Clone)]
pub(crate) struct Pages(Vec<Box<RawValue>>);

impl Pages {
    /// The list `{key: items}` in pages of at most `page_size` items (at least one page, maybe
    /// empty).
    pub(crate) fn new(key: &str, items: &[&Map<String, Value>], page_size: usize) -> Pages {
        let chunks: Vec<&[&Map<String, Value>]> = if items.is_empty() {
            vec![&[]]
        } else {
            items.chunks(page_size.max(1)).collect()
        };
        let last = chunks.len() - 1;
        let pages = chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| {
                let mut result = Map::new();
                result.insert(key.into(), serde_json::to_value(chunk).unwrap_or_default());
                if index < last {
                    result.insert(
                        "nextCursor".into(),
                        format!("{CURSOR_PREFIX}{}", index + 1).into(),
                    );
                }
                serde_json::value::to_raw_value(&result).expect("a JSON object serializes")
            })
            .collect();
        Pages(pages)
    }

    /// The page `cursor` names (the first when there is none), or `-32602` for a cursor this
    /// list never gave out.
    pub(crate) fn page(&self, cursor: Option<&str>) -> Result<Box<RawValue>, Error> {
        let index = match cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix(CURSOR_PREFIX)
                .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < self.0.len())
                .ok_or_else(|| Error::invalid_params(format!("Invalid cursor: {cursor}")))?,
        };
        Ok(self.0[index].clone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::Pages;

    fn items(n: usize) -> Vec<Map<String, Value>> {
        (0..n)
            .map(|i| {
                json!({"name": format!("t{i}")})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect()
    }

    fn page(pages: &Pages, cursor: Option<&str>) -> Value {
        serde_json::from_str(pages.page(cursor).unwrap().get()).unwrap()
    }

    #[test]
    fn a_list_of_exactly_one_page_has_no_cursor_and_one_more_item_makes_two() {
        let at = items(3);
        let pages = Pages::new("tools", &at.iter().collect::<Vec<_>>(), 3);
        let only = page(&pages, None);
        assert_eq!(only["tools"].as_array().unwrap().len(), 3);
        assert!(only.get("nextCursor").is_none());

        let past = items(4);
        let pages = Pages::new("tools", &past.iter().collect::<Vec<_>>(), 3);
        let first = page(&pages, None);
        assert_eq!(first["tools"].as_array().unwrap().len(), 3);
        let cursor = first["nextCursor"].as_str().unwrap().to_string();
        let second = page(&pages, Some(&cursor));
        assert_eq!(second["tools"], json!([{"name": "t3"}]));
        assert!(second.get("nextCursor").is_none());
    }

    #[test]
    fn an_empty_list_is_one_empty_page() {
        let pages = Pages::new("prompts", &[], 10);
        assert_eq!(page(&pages, None), json!({"prompts": []}));
    }

    #[test]
    fn a_cursor_never_given_out_is_invalid_params() {
        let all = items(5);
        let pages = Pages::new("tools", &all.iter().collect::<Vec<_>>(), 2);
        for bad in [
            "",
            "page-",
            "page-3",
            "page-01",
            "page-+1",
            "1",
            "page-99999999999999999999",
        ] {
            assert!(pages.page(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(pages.page(Some("page-2")).is_ok());
    }
}
