//! The web UI's texts, Swedish by default with English available.

/// A language of the UI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    /// Svenska (default).
    Sv,
    /// English.
    En,
}

impl Lang {
    /// The `lang` attribute and cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
        }
    }
    /// Parses a cookie or query value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sv" => Some(Self::Sv),
            "en" => Some(Self::En),
            _ => None,
        }
    }
    /// The other language (for the switch link).
    pub fn other(self) -> Self {
        match self {
            Self::Sv => Self::En,
            Self::En => Self::Sv,
        }
    }
    /// The texts.
    pub fn t(self) -> &'static Texts {
        match self {
            Self::Sv => &SV,
            Self::En => &EN,
        }
    }
}

/// Every text the pages show.
#[derive(Debug)]
pub struct Texts {
    pub app: &'static str,
    pub skip: &'static str,
    pub logged_in_as: &'static str,
    pub assignment: &'static str,
    pub choose_assignment: &'static str,
    pub act_under: &'static str,
    pub no_assignment: &'static str,
    pub switch_language: &'static str,
    pub home: &'static str,
    pub search_calls: &'static str,
    pub search_intro: &'static str,
    pub patient: &'static str,
    pub patient_hint: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub care_unit: &'static str,
    pub all_units: &'static str,
    pub purpose: &'static str,
    pub case_number: &'static str,
    pub case_number_hint: &'static str,
    pub search: &'static str,
    pub results: &'static str,
    pub no_results: &'static str,
    pub started: &'static str,
    pub duration: &'static str,
    pub open: &'static str,
    pub call: &'static str,
    pub call_id: &'static str,
    pub caller: &'static str,
    pub nurse: &'static str,
    pub retention: &'static str,
    pub legal_hold: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub listen: &'static str,
    pub logged_notice: &'static str,
    pub emergency_title: &'static str,
    pub emergency_text: &'static str,
    pub emergency_reason: &'static str,
    pub emergency_reason_hint: &'static str,
    pub emergency_submit: &'static str,
    pub emergency_flag: &'static str,
    pub cancel: &'static str,
    pub error_title: &'static str,
    pub forbidden: &'static str,
    pub not_found: &'static str,
    pub bad_request: &'static str,
    pub failure: &'static str,
    pub back: &'static str,
    pub roles: &'static str,
}

/// Swedish.
pub static SV: Texts = Texts {
    app: "callvault – inspelade samtal",
    skip: "Hoppa till innehållet",
    logged_in_as: "Inloggad som",
    assignment: "Medarbetaruppdrag",
    choose_assignment: "Byt uppdrag",
    act_under: "Agera under detta uppdrag",
    no_assignment: "Du har inget aktivt medarbetaruppdrag.",
    switch_language: "In English",
    home: "Start",
    search_calls: "Sök samtal",
    search_intro: "Sök en patients inspelade samtal. Sökningen loggas.",
    patient: "Personnummer",
    patient_hint: "ÅÅÅÅMMDD-NNNN, samordningsnummer eller reservnummer",
    from: "Från datum",
    to: "Till datum",
    care_unit: "Vårdenhet",
    all_units: "Mina vårdenheter",
    purpose: "Ändamål",
    case_number: "Ärendenummer",
    case_number_hint: "Krävs vid patientsäkerhetsutredning (kvalitetssäkring)",
    search: "Sök",
    results: "Träffar",
    no_results: "Inga samtal hittades.",
    started: "Start",
    duration: "Längd",
    open: "Öppna",
    call: "Samtal",
    call_id: "Samtals-id",
    caller: "Uppringande nummer",
    nurse: "Sjuksköterska",
    retention: "Bevaras till",
    legal_hold: "Rättslig spärr",
    yes: "Ja",
    no: "Nej",
    listen: "Lyssna",
    logged_notice: "All åtkomst loggas och följs upp.",
    emergency_title: "Nödåtkomst",
    emergency_text: "Samtalet tillhör en annan vårdenhet än dina. Du kan öppna det med nödåtkomst om patientens vård kräver det. Åtkomsten loggas, markeras och granskas i efterhand.",
    emergency_reason: "Skäl till nödåtkomst",
    emergency_reason_hint: "Minst 10 tecken. Skälet sparas krypterat i loggen.",
    emergency_submit: "Öppna med nödåtkomst",
    emergency_flag: "Öppnat med nödåtkomst – åtkomsten granskas.",
    cancel: "Avbryt",
    error_title: "Det gick inte",
    forbidden: "Du har inte behörighet till detta. Försöket har loggats.",
    not_found: "Sidan eller samtalet finns inte.",
    bad_request: "Uppgifterna kunde inte användas",
    failure: "Ett internt fel inträffade. Inga uppgifter visades.",
    back: "Tillbaka",
    roles: "Det här kan du göra",
};

/// English.
pub static EN: Texts = Texts {
    app: "callvault – recorded calls",
    skip: "Skip to content",
    logged_in_as: "Logged in as",
    assignment: "Assignment",
    choose_assignment: "Change assignment",
    act_under: "Act under this assignment",
    no_assignment: "You hold no active assignment.",
    switch_language: "På svenska",
    home: "Home",
    search_calls: "Search calls",
    search_intro: "Search a patient's recorded calls. The search is logged.",
    patient: "Personal identity number",
    patient_hint: "YYYYMMDD-NNNN, co-ordination or reserve number",
    from: "From date",
    to: "To date",
    care_unit: "Care unit",
    all_units: "My care units",
    purpose: "Purpose",
    case_number: "Case number",
    case_number_hint: "Required for patient-safety investigations (quality assurance)",
    search: "Search",
    results: "Results",
    no_results: "No calls found.",
    started: "Start",
    duration: "Duration",
    open: "Open",
    call: "Call",
    call_id: "Call id",
    caller: "Calling number",
    nurse: "Nurse",
    retention: "Kept until",
    legal_hold: "Legal hold",
    yes: "Yes",
    no: "No",
    listen: "Listen",
    logged_notice: "Every access is logged and reviewed.",
    emergency_title: "Emergency access",
    emergency_text: "This call belongs to another care unit than yours. You may open it with emergency access if the patient's care requires it. The access is logged, flagged and reviewed afterwards.",
    emergency_reason: "Reason for emergency access",
    emergency_reason_hint: "At least 10 characters. The reason is stored encrypted in the log.",
    emergency_submit: "Open with emergency access",
    emergency_flag: "Opened with emergency access – the access will be reviewed.",
    cancel: "Cancel",
    error_title: "That did not work",
    forbidden: "You are not allowed to do this. The attempt has been logged.",
    not_found: "The page or the call does not exist.",
    bad_request: "The input could not be used",
    failure: "An internal error occurred. No data was shown.",
    back: "Back",
    roles: "What you can do",
};
