//! What can be audited (SPEC §7).

use std::fmt;

macro_rules! actions {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// An audited action. The names are SPEC §7's and never change once written.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, utoipa::ToSchema)]
        pub enum AuditAction {
            $(
                #[doc = $name]
                #[schema(rename = $name)]
                $variant,
            )*
        }

        impl AuditAction {
            /// Every action.
            pub const ALL: &[AuditAction] = &[$(AuditAction::$variant),*];

            /// The stored name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    LoginSuccess => "LOGIN_SUCCESS",
    LoginFailure => "LOGIN_FAILURE",
    Logout => "LOGOUT",
    TokenRefresh => "TOKEN_REFRESH",
    RefreshTokenReuse => "REFRESH_TOKEN_REUSE",
    PasswordChange => "PASSWORD_CHANGE",
    MfaEnabled => "MFA_ENABLED",
    MfaDisabled => "MFA_DISABLED",
    UserCreate => "USER_CREATE",
    UserUpdate => "USER_UPDATE",
    RoleChange => "ROLE_CHANGE",
    RoleEscalationAttempt => "ROLE_ESCALATION_ATTEMPT",
    OrganizationCreate => "ORGANIZATION_CREATE",
    PatientCreate => "PATIENT_CREATE",
    PatientRead => "PATIENT_READ",
    PatientList => "PATIENT_LIST",
    PatientUpdate => "PATIENT_UPDATE",
    PatientDelete => "PATIENT_DELETE",
    CareTeamAdd => "CARE_TEAM_ADD",
    CareTeamRemove => "CARE_TEAM_REMOVE",
    AuthorizationCreate => "AUTHORIZATION_CREATE",
    AuthorizationAdjust => "AUTHORIZATION_ADJUST",
    AuthorizationLowUnits => "AUTHORIZATION_LOW_UNITS",
    SessionReserve => "SESSION_RESERVE",
    SessionStart => "SESSION_START",
    SessionComplete => "SESSION_COMPLETE",
    SessionCancel => "SESSION_CANCEL",
    StaleReservationReleased => "STALE_RESERVATION_RELEASED",
    AccessDenied => "ACCESS_DENIED",
    CrossTenantAccessAttempt => "CROSS_TENANT_ACCESS_ATTEMPT",
    SuperAdminBypass => "SUPER_ADMIN_BYPASS",
    BtgGrantAccess => "BTG_GRANT_ACCESS",
    BtgUseAccess => "BTG_USE_ACCESS",
    BtgRevokeAccess => "BTG_REVOKE_ACCESS",
    BtgExpired => "BTG_EXPIRED",
    BtgReview => "BTG_REVIEW",
    KeyRotated => "KEY_ROTATED",
    MasterKeyRotationStarted => "MASTER_KEY_ROTATION_STARTED",
    MasterKeyRotationCompleted => "MASTER_KEY_ROTATION_COMPLETED",
    AuditExport => "AUDIT_EXPORT",
    AvailabilityUpdate => "AVAILABILITY_UPDATE",
    AvailabilityOverride => "AVAILABILITY_OVERRIDE",
    ScheduleBlockCreate => "SCHEDULE_BLOCK_CREATE",
    ScheduleBlockDelete => "SCHEDULE_BLOCK_DELETE",
    AppointmentBook => "APPOINTMENT_BOOK",
    AppointmentHold => "APPOINTMENT_HOLD",
    AppointmentConfirm => "APPOINTMENT_CONFIRM",
    AppointmentReschedule => "APPOINTMENT_RESCHEDULE",
    AppointmentCheckIn => "APPOINTMENT_CHECK_IN",
    AppointmentCancel => "APPOINTMENT_CANCEL",
    AppointmentNoShow => "APPOINTMENT_NO_SHOW",
    AppointmentHoldExpired => "APPOINTMENT_HOLD_EXPIRED",
    AppointmentRead => "APPOINTMENT_READ",
    AppointmentList => "APPOINTMENT_LIST",
    SeriesCreate => "SERIES_CREATE",
    SeriesCancel => "SERIES_CANCEL",
    WaitlistAdd => "WAITLIST_ADD",
    WaitlistUpdate => "WAITLIST_UPDATE",
    WaitlistRemove => "WAITLIST_REMOVE",
    WaitlistList => "WAITLIST_LIST",
    WaitlistOfferCreate => "WAITLIST_OFFER_CREATE",
    WaitlistOfferAccept => "WAITLIST_OFFER_ACCEPT",
    WaitlistOfferDecline => "WAITLIST_OFFER_DECLINE",
    WaitlistOfferExpired => "WAITLIST_OFFER_EXPIRED",
    SettingsUpdate => "SETTINGS_UPDATE",
    DpopProofRejected => "DPOP_PROOF_REJECTED",
    NoteCreate => "NOTE_CREATE",
    NoteUpdate => "NOTE_UPDATE",
    NoteRead => "NOTE_READ",
    NoteList => "NOTE_LIST",
    NoteSign => "NOTE_SIGN",
    NoteSignFailed => "NOTE_SIGN_FAILED",
    NoteCosign => "NOTE_COSIGN",
    NoteReturn => "NOTE_RETURN",
    NoteAddendum => "NOTE_ADDENDUM",
    NoteDelete => "NOTE_DELETE",
    NoteEnteredInError => "NOTE_ENTERED_IN_ERROR",
    NoteOverdue => "NOTE_OVERDUE",
    SupervisionSet => "SUPERVISION_SET",
    SecurityIncidentOpened => "SECURITY_INCIDENT_OPENED",
    SecurityIncidentUpdated => "SECURITY_INCIDENT_UPDATED",
    SecurityIncidentTransition => "SECURITY_INCIDENT_TRANSITION",
    SecurityIncidentRiskAssessment => "SECURITY_INCIDENT_RISK_ASSESSMENT",
    IncidentContainmentAction => "INCIDENT_CONTAINMENT_ACTION",
    DetectionRuleUpdate => "DETECTION_RULE_UPDATE",
    RealtimeTicketIssue => "REALTIME_TICKET_ISSUE",
    RealtimeConnect => "REALTIME_CONNECT",
    RealtimeDisconnect => "REALTIME_DISCONNECT",
    FeeScheduleUpdate => "FEE_SCHEDULE_UPDATE",
    ChargeCreate => "CHARGE_CREATE",
    ChargeRead => "CHARGE_READ",
    ChargeList => "CHARGE_LIST",
    ChargeUpdate => "CHARGE_UPDATE",
    ChargeHold => "CHARGE_HOLD",
    ChargeReady => "CHARGE_READY",
    ChargeRelease => "CHARGE_RELEASE",
    ChargeVoid => "CHARGE_VOID",
    ChargeExport => "CHARGE_EXPORT",
    ChargeExportDownload => "CHARGE_EXPORT_DOWNLOAD",
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or(())
    }
}

/// How the actor reached the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AccessMethod {
    /// Their role and care team allow it.
    Normal,
    /// An emergency (break-the-glass) grant.
    BreakTheGlass,
    /// A platform operator acting inside an organization.
    SuperAdminBypass,
    /// Haven itself (background jobs, key rotation).
    System,
}

impl AccessMethod {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::BreakTheGlass => "break_the_glass",
            Self::SuperAdminBypass => "super_admin_bypass",
            Self::System => "system",
        }
    }
}

/// How the attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Denied,
    /// It failed.
    Error,
}

impl Outcome {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_unique_and_parse_back() {
        let mut names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(*action));
        }
    }
}
