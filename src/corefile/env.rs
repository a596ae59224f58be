//! `{$NAME}` and `{%NAME%}` replacement, applied per token after lexing.
//!
//! Because it runs after the split into tokens, a value with spaces stays one
//! token, exactly as in CoreDNS.

/// Replaces every `{$NAME}` and `{%NAME%}` in `text` with the environment
/// value (empty when unset).
pub(super) fn replace_env(text: &str) -> String {
    if !text.contains('{') {
        return text.to_string();
    }
    let once = replace_refs(text, "{$", "}");
    replace_refs(&once, "{%", "%}")
}

fn replace_refs(text: &str, start: &str, end: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(start) {
        let after_open = &rest[open + start.len()..];
        let Some(close) = after_open.find(end) else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &after_open[..close];
        out.push_str(&std::env::var(name).unwrap_or_default());
        rest = &after_open[close + end.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_both_forms_and_unset_is_empty() {
        // SAFETY: tests in this module are the only users of this variable.
        unsafe { std::env::set_var("CLUSTERDNS_TEST_ENV", "a b") };
        assert_eq!(replace_env("x{$CLUSTERDNS_TEST_ENV}y"), "xa by");
        assert_eq!(replace_env("{%CLUSTERDNS_TEST_ENV%}"), "a b");
        assert_eq!(replace_env("{$CLUSTERDNS_UNSET_VAR}z"), "z");
        assert_eq!(replace_env("{$unterminated"), "{$unterminated");
    }
}
