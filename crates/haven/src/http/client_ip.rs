//! The client's IP address, for rate limits and audit entries.
//!
//! `X-Forwarded-For` is written by whoever sent the request, so it is believed only as far as a
//! chain of trusted proxies (`HAVEN_TRUSTED_PROXIES`) vouches for it: starting from the socket
//! peer, each trusted hop vouches for the entry to its left. The client is the first address,
//! walking from the right, that is not a trusted proxy. Anything left of it is the client's own
//! claim and ignored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};

use crate::config::IpNetwork;

/// The `X-Forwarded-For` header.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's IP address, resolved by [`client_ip`]. The auth rate limit puts it into the
/// request's extensions, so handlers behind it can read it instead of resolving it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client of a request: its socket peer (`ConnectInfo<SocketAddr>`, or 127.0.0.1 when
    /// served in process without one, as in tests), resolved through `trusted` proxies.
    #[must_use]
    pub fn from_parts(parts: &Parts, trusted: &[IpNetwork]) -> IpAddr {
        client_ip(peer_ip(&parts.extensions), &parts.headers, trusted)
    }
}

/// The socket peer recorded by `into_make_service_with_connect_info::<SocketAddr>()` (or a test's
/// `MockConnectInfo`), else 127.0.0.1.
fn peer_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| addr.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The client's address: `peer`, unless `peer` is a trusted proxy, in which case the first
/// untrusted address of `X-Forwarded-For` read from the right. A malformed entry ends the walk at
/// the last address a trusted hop vouched for. Several `X-Forwarded-For` headers count as one
/// list, in order.
#[must_use]
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    // A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`; one client, one address.
    let mut client = peer.to_canonical();
    if !is_trusted(client, trusted) {
        return client;
    }
    for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(value) = value.to_str() else {
            return client;
        };
        for entry in value.rsplit(',') {
            let Some(hop) = parse_hop(entry) else {
                return client;
            };
            client = hop;
            if !is_trusted(hop, trusted) {
                return hop;
            }
        }
    }
    // Every hop was a trusted proxy: the leftmost is the best we know.
    client
}

fn is_trusted(ip: IpAddr, trusted: &[IpNetwork]) -> bool {
    trusted.iter().any(|network| network.contains(ip))
}

/// One entry: `1.2.3.4`, `2001:db8::1`, and the forms with a port some proxies write
/// (`1.2.3.4:5678`, `[2001:db8::1]:5678`, `[2001:db8::1]`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(addr) = entry.parse::<SocketAddr>() {
        addr.ip()
    } else {
        entry
            .strip_prefix('[')?
            .strip_suffix(']')?
            .parse::<IpAddr>()
            .ok()?
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNetwork> {
        list.iter()
            .map(|net| IpNetwork::parse(net).expect("network"))
            .collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                &X_FORWARDED_FOR,
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let headers = xff(&["1.1.1.1"]);

        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers, &[]),
            ip("203.0.113.9")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_chain_is_walked_through_two_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1"]);
        // The client claims 6.6.6.6; the edge proxy saw 198.51.100.4 and passed it to 10.0.0.2.
        let headers = xff(&["6.6.6.6, 198.51.100.4, 192.168.1.1"]);

        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn several_headers_form_one_list() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = xff(&["6.6.6.6", "198.51.100.4, 10.0.0.7"]);

        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn ipv6_addresses_and_ports_are_understood() {
        let trusted = nets(&["fd00::/8"]);
        let headers = xff(&["2001:db8::7, [fd00::2]:443"]);

        assert_eq!(
            client_ip(ip("fd00::1"), &headers, &trusted),
            ip("2001:db8::7")
        );
        let headers = xff(&["[2001:db8::8]:5555"]);
        assert_eq!(
            client_ip(ip("fd00::1"), &headers, &trusted),
            ip("2001:db8::8")
        );
        let headers = xff(&["198.51.100.4:5678"]);
        assert_eq!(
            client_ip(ip("fd00::1"), &headers, &trusted),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = xff(&["198.51.100.4"]);

        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &headers, &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_vouched_address() {
        let trusted = nets(&["10.0.0.0/8"]);

        let headers = xff(&["198.51.100.4, unknown, 10.0.0.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("10.0.0.9")
        );
        let headers = xff(&["not an address"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("10.0.0.2")
        );
        let headers = xff(&["198.51.100.4,,"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("10.0.0.2")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            &X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff1.2.3.4").expect("bytes"),
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_chain_of_only_trusted_hops_gives_the_leftmost() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = xff(&["10.0.0.5, 10.0.0.6"]);

        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn from_parts_reads_the_peer_or_falls_back_to_localhost() {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        assert_eq!(ClientIp::from_parts(&parts, &[]), ip("127.0.0.1"));

        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 4000))));
        assert_eq!(ClientIp::from_parts(&parts, &[]), ip("203.0.113.9"));
    }
}
