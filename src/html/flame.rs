//! Flame graphs of blocked stacks, drawn by `inferno` (the library py-spy
//! uses), made fit to live inside an HTML page.

use inferno::flamegraph::{
    self, Options, TextTruncateDirection, color::MultiPalette, color::Palette,
};

/// One rendered flame graph: an inline `<svg>` for an HTML document (no XML
/// declaration, doctype, comments or namespace declarations, which HTML
/// does not need), and its height in pixels.
pub struct Flame {
    pub svg: String,
    pub height: u32,
}

/// A frame's name in the graph: `qualname (file:line)`. inferno's Python
/// palette colours a frame by its path (application, standard library,
/// site-packages), so the path stays whole. `;` separates frames in folded
/// stacks and is replaced.
pub fn label(qualname: &str, file: &str, line: i64) -> String {
    let s = if file.is_empty() {
        qualname.to_string()
    } else if line > 0 {
        format!("{qualname} ({file}:{line})")
    } else {
        format!("{qualname} ({file})")
    };
    s.replace(';', ":").replace(['\n', '\r'], " ")
}

/// Renders folded stacks (`frames outermost first`, weight in µs). `None`
/// when there is nothing to draw or inferno refuses.
pub fn render(title: &str, folded: &[(String, u64)]) -> Option<Flame> {
    if folded.is_empty() {
        return None;
    }
    let lines: Vec<String> = folded
        .iter()
        .map(|(stack, us)| format!("{stack} {us}"))
        .collect();
    let mut opt = Options::default();
    opt.title = title.to_string();
    opt.subtitle = Some("width: blocked time (µs); hover a frame for its share".to_string());
    opt.count_name = "µs".to_string();
    opt.name_type = "Frame:".to_string();
    opt.colors = Palette::Multi(MultiPalette::Python);
    opt.hash = true;
    opt.deterministic = true;
    opt.font_type = "monospace".to_string();
    opt.font_width = 0.6;
    opt.text_truncate_direction = TextTruncateDirection::Right;
    let mut out = Vec::new();
    flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut out).ok()?;
    let svg = String::from_utf8(out).ok()?;
    Some(sanitize(&svg))
}

/// Strips what an SVG document needs and an inline `<svg>` in HTML does
/// not: the XML declaration, the doctype (which names a DTD by URL), the
/// comments (which carry URLs) and the namespace declarations (the HTML
/// parser puts `<svg>` in the SVG namespace by itself).
fn sanitize(svg: &str) -> Flame {
    let mut s = svg.to_string();
    if s.starts_with("<?xml")
        && let Some(i) = s.find("?>")
    {
        s.replace_range(..i + 2, "");
    }
    if let Some(a) = s.find("<!DOCTYPE")
        && let Some(b) = s[a..].find('>')
    {
        s.replace_range(a..a + b + 1, "");
    }
    // Comments, outside the script's CDATA section.
    let cdata = s.find("<![CDATA[").unwrap_or(s.len());
    let mut from = 0;
    while let Some(a) = s[from..].find("<!--").map(|i| i + from) {
        if a > cdata {
            break;
        }
        let Some(b) = s[a..].find("-->") else { break };
        s.replace_range(a..a + b + 3, "");
        from = a;
    }
    for ns in [
        r#" xmlns="http://www.w3.org/2000/svg""#,
        r#" xmlns:xlink="http://www.w3.org/1999/xlink""#,
        r#" xmlns:fg="http://github.com/jonhoo/inferno""#,
    ] {
        s = s.replacen(ns, "", 1);
    }
    let s = s.trim().to_string();
    let height = s
        .find("<svg")
        .and_then(|i| {
            let tag = &s[i..i + s[i..].find('>')?];
            let h = tag.find(" height=\"")? + " height=\"".len();
            let end = tag[h..].find('"')?;
            tag[h..h + end].parse::<u32>().ok()
        })
        .unwrap_or(400);
    Flame { svg: s, height }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_inline_svg_without_urls_outside_the_script() {
        let folded = vec![
            (
                "main (/app/a.py:3);handler (/app/a.py:9)".to_string(),
                100_000,
            ),
            (
                "main (/app/a.py:3);recv (/usr/lib/python3.11/socket.py:700)".to_string(),
                50_000,
            ),
        ];
        let f = render("Blocked stacks", &folded).expect("a flame graph");
        assert!(f.svg.starts_with("<svg"), "{}", &f.svg[..200]);
        assert!(f.height > 50);
        let before_script = &f.svg[..f.svg.find("<script").unwrap()];
        assert!(!before_script.contains("://"), "{before_script}");
        let after_script = &f.svg[f.svg.find("</script>").unwrap()..];
        assert!(!after_script.contains("://"));
        assert!(f.svg.contains("handler (/app/a.py:9)"));
        assert!(!f.svg.contains("<!DOCTYPE"));
        assert!(render("x", &[]).is_none());
    }

    #[test]
    fn labels_keep_folded_syntax() {
        assert_eq!(label("f;g", "/a.py", 3), "f:g (/a.py:3)");
        assert_eq!(label("f", "", 0), "f");
    }
}
