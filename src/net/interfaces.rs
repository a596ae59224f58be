//! This host's non-loopback interface addresses.
//!
//! The kubernetes plugin names itself in NS answers from the Services whose
//! endpoints are these addresses (CoreDNS `boundIPs`). CoreDNS takes them
//! from the interfaces when the block has no `bind`; with `bind` it parses
//! the bound hosts as CIDRs, which plain IPs are not, so it ends up with
//! none. The caller reproduces that.

use std::net::IpAddr;

/// Every non-loopback address of every interface.
pub(crate) fn addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return found;
        }
        let mut cursor = head;
        while !cursor.is_null() {
            if let Some(ip) = address_of((*cursor).ifa_addr)
                && !ip.is_loopback()
                && !found.contains(&ip)
            {
                found.push(ip);
            }
            cursor = (*cursor).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    found
}

/// SAFETY: `address` is null or points to a sockaddr of its family.
unsafe fn address_of(address: *const libc::sockaddr) -> Option<IpAddr> {
    if address.is_null() {
        return None;
    }
    // SAFETY: the caller's contract: a non-null `address` points to a
    // sockaddr whose family says which larger struct it is.
    unsafe {
        match i32::from((*address).sa_family) {
            libc::AF_INET => {
                let v4 = &*(address as *const libc::sockaddr_in);
                Some(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()))
            }
            libc::AF_INET6 => {
                let v6 = &*(address as *const libc::sockaddr_in6);
                Some(IpAddr::from(v6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}
