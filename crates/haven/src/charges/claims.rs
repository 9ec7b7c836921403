//! The lines of an export, decrypted, rendered as CSV rows or grouped into 837P-shaped claims
//! (one per patient, payer, rendering provider, frequency code and authorization; at most 50
//! lines and 12 diagnosis codes each, else the claim is split). Only codes, units, amounts and
//! demographics: note content never reaches a charge, so it cannot reach an export.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::ids::{AuthorizationId, ChargeId, PatientId, UserId};

/// At most this many service lines in one claim (837P loop 2400 repeats up to 50).
pub const MAX_LINES_PER_CLAIM: usize = 50;
/// At most this many diagnosis codes in one claim (HI segment).
pub const MAX_CLAIM_CODES: usize = 12;

/// A patient's (or subscriber's) name and date of birth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
}

/// One exported line, decrypted.
#[derive(Debug, Clone)]
pub struct Line {
    /// The charge.
    pub charge_id: ChargeId,
    /// 1, 7 or 8.
    pub frequency_code: String,
    /// Whose.
    pub patient_id: PatientId,
    /// The patient (the subscriber too: Haven records no other insured).
    pub patient: Person,
    /// The health-plan member id.
    pub member_id: Option<String>,
    /// The authorization (its id is the prior-authorization reference).
    pub authorization_id: AuthorizationId,
    /// The clinician.
    pub rendering_provider_id: Option<UserId>,
    /// The payer.
    pub payer_name: String,
    /// Date of service.
    pub service_date: NaiveDate,
    /// CPT/HCPCS.
    pub cpt_code: String,
    /// Modifiers.
    pub modifiers: Vec<String>,
    /// The line's diagnosis codes.
    pub diagnosis_codes: Vec<String>,
    /// 1-based pointers into `diagnosis_codes`.
    pub diagnosis_pointers: Vec<i16>,
    /// Place of service.
    pub place_of_service: String,
    /// Units.
    pub units: i32,
    /// Amount.
    pub charge_cents: i64,
}

/// The CSV header (one row per line follows).
pub const CSV_HEADER: &str = "chargeId,frequencyCode,patientId,patientLastName,patientFirstName,\
patientDateOfBirth,payerName,memberId,authorizationId,renderingProviderId,serviceDate,cptCode,\
modifiers,diagnosisCodes,diagnosisPointers,placeOfService,units,chargeCents\n";

fn csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One CSV row (RFC 4180); lists are joined by `:`.
#[must_use]
pub fn csv_row(line: &Line) -> String {
    let pointers: Vec<String> = line.diagnosis_pointers.iter().map(i16::to_string).collect();
    let fields = [
        line.charge_id.to_string(),
        line.frequency_code.clone(),
        line.patient_id.to_string(),
        line.patient.last_name.clone(),
        line.patient.first_name.clone(),
        line.patient.date_of_birth.clone(),
        line.payer_name.clone(),
        line.member_id.clone().unwrap_or_default(),
        line.authorization_id.to_string(),
        line.rendering_provider_id
            .map(|u| u.to_string())
            .unwrap_or_default(),
        line.service_date.to_string(),
        line.cpt_code.clone(),
        line.modifiers.join(":"),
        line.diagnosis_codes.join(":"),
        pointers.join(":"),
        line.place_of_service.clone(),
        line.units.to_string(),
        line.charge_cents.to_string(),
    ];
    let mut out = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, field);
    }
    out.push('\n');
    out
}

type Key = (PatientId, String, Option<UserId>, String, AuthorizationId);

fn key(line: &Line) -> Key {
    (
        line.patient_id,
        line.payer_name.clone(),
        line.rendering_provider_id,
        line.frequency_code.clone(),
        line.authorization_id,
    )
}

/// A claim being built from consecutive lines of one key.
#[derive(Debug)]
struct Claim {
    key: Key,
    first: Line,
    codes: Vec<String>,
    lines: Vec<Value>,
    total_cents: i64,
}

impl Claim {
    fn new(line: &Line) -> Self {
        Self {
            key: key(line),
            first: line.clone(),
            codes: Vec::new(),
            lines: Vec::new(),
            total_cents: 0,
        }
    }

    /// The claim-level codes the line needs that the claim lacks.
    fn missing_codes(&self, line: &Line) -> usize {
        let mut seen: Vec<&String> = Vec::new();
        for p in &line.diagnosis_pointers {
            let code = usize::try_from(*p - 1)
                .ok()
                .and_then(|i| line.diagnosis_codes.get(i));
            if let Some(code) = code
                && !self.codes.contains(code)
                && !seen.contains(&code)
            {
                seen.push(code);
            }
        }
        seen.len()
    }

    fn fits(&self, line: &Line) -> bool {
        self.key == key(line)
            && self.lines.len() < MAX_LINES_PER_CLAIM
            && self.codes.len() + self.missing_codes(line) <= MAX_CLAIM_CODES
    }

    fn add(&mut self, line: &Line) {
        // The line's pointers, re-pointed at the claim's list of codes (the pointed codes only).
        let mut pointers = Vec::with_capacity(line.diagnosis_pointers.len());
        for p in &line.diagnosis_pointers {
            let Some(code) = usize::try_from(*p - 1)
                .ok()
                .and_then(|i| line.diagnosis_codes.get(i))
            else {
                continue;
            };
            let at = match self.codes.iter().position(|c| c == code) {
                Some(at) => at,
                None => {
                    self.codes.push(code.clone());
                    self.codes.len() - 1
                }
            };
            pointers.push(at + 1);
        }
        if line.frequency_code != "8" {
            self.total_cents += line.charge_cents;
        }
        self.lines.push(json!({
            "lineNumber": self.lines.len() + 1,
            "chargeId": line.charge_id,
            "serviceDate": line.service_date,
            "cptCode": line.cpt_code,
            "modifiers": line.modifiers,
            "units": line.units,
            "chargeCents": line.charge_cents,
            "placeOfService": line.place_of_service,
            "diagnosisPointers": pointers,
        }));
    }

    fn into_json(self) -> Value {
        let f = &self.first;
        let person = |p: &Person| {
            json!({
                "firstName": p.first_name,
                "lastName": p.last_name,
                "dateOfBirth": p.date_of_birth,
            })
        };
        json!({
            "frequencyCode": f.frequency_code,
            "payer": { "name": f.payer_name },
            "subscriber": {
                "memberId": f.member_id,
                "relationshipToPatient": "18",
                "name": person(&f.patient),
            },
            "patient": { "id": f.patient_id, "name": person(&f.patient) },
            "renderingProvider": { "id": f.rendering_provider_id },
            "priorAuthorization": f.authorization_id,
            "placeOfService": f.place_of_service,
            "diagnosisCodes": self.codes,
            "totalChargeCents": self.total_cents,
            "serviceLines": self.lines,
        })
    }
}

/// Groups lines arriving in claim order into claims, one finished claim at a time (so an
/// export streams with one claim in memory).
#[derive(Debug, Default)]
pub struct Claims {
    current: Option<Claim>,
}

impl Claims {
    /// Adds `line`; the claim it closed, if any.
    pub fn push(&mut self, line: &Line) -> Option<Value> {
        let closed = match &self.current {
            Some(claim) if claim.fits(line) => None,
            Some(_) => self.current.take().map(Claim::into_json),
            None => None,
        };
        self.current
            .get_or_insert_with(|| Claim::new(line))
            .add(line);
        closed
    }

    /// The last claim, if any.
    pub fn finish(&mut self) -> Option<Value> {
        self.current.take().map(Claim::into_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(patient: PatientId, codes: &[&str], pointers: &[i16]) -> Line {
        static AUTH: std::sync::OnceLock<AuthorizationId> = std::sync::OnceLock::new();
        Line {
            charge_id: ChargeId::new(),
            frequency_code: "1".into(),
            patient_id: patient,
            patient: Person {
                first_name: "Robin".into(),
                last_name: "O'Kafor, Jr".into(),
                date_of_birth: "2017-05-02".into(),
            },
            member_id: Some("BH-1".into()),
            authorization_id: *AUTH.get_or_init(AuthorizationId::new),
            rendering_provider_id: None,
            payer_name: "Blue Harbor".into(),
            service_date: NaiveDate::from_ymd_opt(2027, 1, 4).unwrap_or_default(),
            cpt_code: "97153".into(),
            modifiers: vec![],
            diagnosis_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
            diagnosis_pointers: pointers.to_vec(),
            place_of_service: "11".into(),
            units: 2,
            charge_cents: 100,
        }
    }

    #[test]
    fn lines_group_into_claims_with_pointers_into_the_claims_codes() {
        let p = PatientId::new();
        let mut claims = Claims::default();
        assert!(claims.push(&line(p, &["F84.0", "Z63.8"], &[2])).is_none());
        assert!(claims.push(&line(p, &["F84.0"], &[1])).is_none());
        let other = claims.push(&line(PatientId::new(), &["F84.0"], &[1]));
        let claim = other.expect("the first patient's claim closed");
        assert_eq!(claim["diagnosisCodes"], json!(["Z63.8", "F84.0"]));
        assert_eq!(claim["serviceLines"][0]["diagnosisPointers"], json!([1]));
        assert_eq!(claim["serviceLines"][1]["diagnosisPointers"], json!([2]));
        assert_eq!(claim["totalChargeCents"], 200);
        assert!(claims.finish().is_some());
        assert!(claims.finish().is_none());
    }

    #[test]
    fn a_claim_splits_past_twelve_codes_or_fifty_lines() {
        let p = PatientId::new();
        let mut claims = Claims::default();
        let mut closed = 0;
        for i in 0..13 {
            let code = format!("F{:02}", 10 + i);
            if claims.push(&line(p, &[code.as_str()], &[1])).is_some() {
                closed += 1;
            }
        }
        assert_eq!(closed, 1, "the 13th code opened a second claim");
        let mut claims = Claims::default();
        let mut closed = 0;
        for _ in 0..51 {
            if claims.push(&line(p, &["F84.0"], &[1])).is_some() {
                closed += 1;
            }
        }
        assert_eq!(closed, 1, "the 51st line opened a second claim");
    }

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        let row = csv_row(&line(PatientId::new(), &["F84.0", "Z63.8"], &[1, 2]));
        assert!(row.contains(",\"O'Kafor, Jr\",Robin,"));
        assert!(row.contains(",F84.0:Z63.8,1:2,11,2,100\n"));
    }
}
