//! Output for people: the text tables, times and units the commands print, and the one JSON
//! helper, so every command's output is laid out alike.

use shared::domain::gigastore::InventoryItem;
use shared::domain::topup::Run;
use std::io::Write;

use shared::domain::entitlement::Entitlement;
use shared::domain::erasure::Erasure;
use shared::domain::events::{Details, DomainEvent};
use shared::domain::ids::CustomerUid;
use shared::domain::views::{EsimHistory, UserSummary};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::commands::CliError;

/// Prints `value` as one JSON document, or for people with `human`.
pub(crate) fn show<T: serde::Serialize, W: Write>(
    value: &T,
    json: bool,
    human: fn(&T, &mut W) -> std::io::Result<()>,
    out: &mut W,
) -> Result<(), CliError> {
    if json {
        serde_json::to_writer_pretty(&mut *out, value)?;
        writeln!(out)?;
    } else {
        human(value, out)?;
    }
    Ok(())
}

/// An entitlement's units, as every command that changes one reports them.
pub(crate) fn units(e: &Entitlement) -> String {
    format!(
        "{} left, {} used, {} granted",
        e.units_left(),
        e.units_used,
        e.units_granted
    )
}

/// A time for people: RFC 3339, or `-` for none.
fn when(at: Option<OffsetDateTime>) -> String {
    at.and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".to_owned())
}

/// A user's summary for people: profile, then one table per kind of record.
pub(crate) fn print_summary(s: &UserSummary, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "user:        {}", s.user_token)?;
    writeln!(out, "email:       {}", s.email.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "customer id: {}",
        s.customer_uid.as_ref().map_or("-", CustomerUid::as_str)
    )?;
    table(
        out,
        "entitlements:",
        |[item, left, used, granted, expires, revoked]| {
            format!("  {item:<24} {left:>6} {used:>6} {granted:>8}  {expires:<25} {revoked:<25}")
        },
        ["ITEM", "LEFT", "USED", "GRANTED", "EXPIRES", "REVOKED"],
        s.entitlements.iter().map(|e| {
            [
                e.item.as_str().to_owned(),
                e.units_left().to_string(),
                e.units_used.to_string(),
                e.units_granted.to_string(),
                when(e.expires_at),
                when(e.revoked_at),
            ]
        }),
    )?;
    table(
        out,
        "activations (newest first):",
        |[decided, activation, item, decision, reason, meta_tag]| {
            format!(
                "  {decided:<25} {activation:<24} {item:<16} {decision:<8} {reason:<16} {meta_tag}"
            )
        },
        [
            "DECIDED",
            "ACTIVATION",
            "ITEM",
            "DECISION",
            "REASON",
            "META TAG",
        ],
        s.activations.iter().map(|a| {
            [
                when(Some(a.decided_at)),
                a.activation_id.as_str().to_owned(),
                a.item.as_str().to_owned(),
                a.decision.as_str().to_owned(),
                a.reason.map_or("-", |r| r.code()).to_owned(),
                a.meta_tag.as_ref().map_or("-", |m| m.as_str()).to_owned(),
            ]
        }),
    )?;
    let alert = s.latest_balance_alert.as_ref();
    writeln!(
        out,
        "\nlatest balance alert: {}",
        alert.map_or_else(
            || "-".to_owned(),
            |a| format!(
                "{} bytes left on {} at {}",
                a.alert.balance_bytes,
                a.alert.iccid,
                when(Some(a.alert.timestamp))
            )
        )
    )?;
    table(
        out,
        "balances (newest first):",
        |[item, activated, expires]| format!("  {item:<38} {activated:<25} {expires}"),
        ["ITEM", "ACTIVATED", "EXPIRES"],
        s.balances.iter().map(|b| {
            [
                b.item.as_str().to_owned(),
                when(Some(b.activated_at)),
                when(Some(b.expires_at)),
            ]
        }),
    )
}

/// An erasure for people: the hash the user's kept records now carry, what went and what stayed.
pub(crate) fn print_erasure(e: &Erasure, out: &mut impl Write) -> std::io::Result<()> {
    if !e.erased {
        return writeln!(out, "nothing left to erase: user {}", e.user_hash);
    }
    writeln!(out, "erased user {} at {}", e.user_hash, when(e.erased_at))?;
    writeln!(
        out,
        "  deleted: {} profile(s), {} entitlement(s), {} unclaimed registration(s)",
        e.profiles, e.entitlements, e.unclaimed_registrations
    )?;
    writeln!(
        out,
        "  kept under the hash: {} activation decision(s), {} purchase(s)",
        e.activations, e.purchases
    )
}

/// An eSIM for people: its current state and country, then their histories.
pub(crate) fn print_run(r: &Run, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "completed {}, failed {}, unknown {}, refunded {}, refund failed {}, waiting {}, stuck {}, errors {}",
        r.completed,
        r.failed,
        r.unknown,
        r.refunded,
        r.refund_failed,
        r.waiting,
        r.stuck,
        r.errors.len()
    )?;
    for (purchase_id, error) in &r.errors {
        writeln!(out, "  {purchase_id}: {error}")?;
    }
    Ok(())
}

// `render::show` passes the value it prints by reference: here, the list.
#[allow(clippy::ptr_arg)]
pub(crate) fn print_catalogue(
    items: &Vec<InventoryItem>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for i in items {
        let prices: Vec<String> = i
            .retail_prices
            .iter()
            .map(|p| format!("{} {}", p.value, p.currency))
            .collect();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            i.id,
            i.name,
            i.size,
            i.validity,
            i.country_set,
            prices.join(", ")
        )?;
    }
    Ok(())
}

pub(crate) fn print_esim(e: &EsimHistory, out: &mut impl Write) -> std::io::Result<()> {
    let iccid = e.current.as_ref().map(|c| &c.status.iccid);
    let iccid = iccid.or(e.country.as_ref().map(|c| &c.change.iccid));
    writeln!(out, "iccid:    {}", iccid.map_or("-", |i| i.as_str()))?;
    let c = e.current.as_ref().map(|c| &c.status);
    writeln!(
        out,
        "state:    {}",
        c.map_or("-", |c| c.profile_state.as_str())
    )?;
    writeln!(out, "imsi:     {}", c.map_or("-", |c| c.imsi.as_str()))?;
    let eid = c.and_then(|c| c.eid.as_ref());
    writeln!(out, "eid:      {}", eid.map_or("-", |eid| eid.as_str()))?;
    writeln!(
        out,
        "received: {}",
        when(e.current.as_ref().map(|c| c.received_at))
    )?;
    let country = e.country.as_ref().map(|c| c.change.new_country.as_str());
    writeln!(out, "country:  {}", country.unwrap_or("-"))?;
    table(
        out,
        "history (newest first):",
        |[received, state, imsi, eid]| format!("  {received:<25} {state:<12} {imsi:<16} {eid}"),
        ["RECEIVED", "STATE", "IMSI", "EID"],
        e.history.iter().map(|h| {
            [
                when(Some(h.received_at)),
                h.status.profile_state.as_str().to_owned(),
                h.status.imsi.as_str().to_owned(),
                h.status
                    .eid
                    .as_ref()
                    .map_or("-", |eid| eid.as_str())
                    .to_owned(),
            ]
        }),
    )?;
    table(
        out,
        "countries (newest first):",
        |[received, previous, new, imsi]| format!("  {received:<25} {previous:<9} {new:<8} {imsi}"),
        ["RECEIVED", "PREVIOUS", "NEW", "IMSI"],
        e.country_history.iter().map(|h| {
            [
                when(Some(h.received_at)),
                h.change
                    .previous_country
                    .map_or("-", |c| c.as_str())
                    .to_owned(),
                h.change.new_country.as_str().to_owned(),
                h.change.imsi.as_str().to_owned(),
            ]
        }),
    )
}

/// Writes `title` after a blank line, then `headings` and each of `rows` laid out by `layout`,
/// one line each: the headings and the rows share one layout.
fn table<const N: usize>(
    out: &mut impl Write,
    title: &str,
    layout: impl Fn([&str; N]) -> String,
    headings: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> std::io::Result<()> {
    writeln!(out, "\n{title}")?;
    writeln!(out, "{}", layout(headings))?;
    for row in rows {
        writeln!(out, "{}", layout(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}

/// One domain event, on its own line: one JSON document (the EventBridge entry's detail), or
/// [`event_line`] for people.
pub(crate) fn event(event: &DomainEvent, json: bool, out: &mut impl Write) -> Result<(), CliError> {
    match json {
        true => serde_json::to_writer(&mut *out, event)?,
        false => write!(out, "{}", event_line(event)?)?,
    }
    writeln!(out)?;
    Ok(())
}

/// One line for people: time, type, ids, details.
fn event_line(event: &DomainEvent) -> Result<String, serde_json::Error> {
    // The stored format, as in the JSON: every line's time has the same width.
    let time = shared::domain::clock::format(event.time);
    let id = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let details: &Details = &event.details;
    Ok(format!(
        "{}  {:<20}  user={} customer={} iccid={}  {}  id={}",
        time,
        event.event_type.as_str(),
        id(event.user_token.as_ref().map(|u| u.as_str())),
        id(event.customer_uid.as_ref().map(|c| c.as_str())),
        id(event.iccid.as_ref().map(|i| i.as_str())),
        serde_json::to_string(details)?,
        event.id,
    ))
}
