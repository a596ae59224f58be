//! Rcodes by the names miekg's `StringToRcode` gives them, which the
//! Corefile arguments of rewrite and template use.

use hickory_proto::op::ResponseCode;

/// The rcode `name` (upper case, as miekg spells it) stands for.
pub(crate) fn by_name(name: &str) -> Option<ResponseCode> {
    let number: u16 = match name {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        "BADSIG" | "BADVERS" => 16,
        "BADKEY" => 17,
        "BADTIME" => 18,
        "BADMODE" => 19,
        "BADNAME" => 20,
        "BADALG" => 21,
        "BADTRUNC" => 22,
        "BADCOOKIE" => 23,
        _ => return None,
    };
    Some(by_number(number))
}

/// The rcode with this number (extended rcodes included).
pub(crate) fn by_number(number: u16) -> ResponseCode {
    ResponseCode::from((number >> 4) as u8, (number & 0xF) as u8)
}
