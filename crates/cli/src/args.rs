//! Command-line arguments as plain values (parsed by clap), before any validation.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// callvault — the secure record vault for recorded nurse-advice calls.
///
/// Recordings are encrypted per recording, stored at two separate sites, catalogued with
/// identifying fields encrypted, and every change is a leaf of a signed, tamper-evident
/// audit log.
#[derive(Debug, Parser)]
#[command(name = "callvault", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: configuration, keys, two site directories, catalog and
    /// audit signing key.
    Init {
        /// Data directory to create.
        #[arg(long)]
        data_dir: PathBuf,
        /// Origin line of audit checkpoints.
        #[arg(long, default_value = "audit.callvault.example")]
        origin: String,
        /// Register a care provider (HSA-ID) and create its keys; repeatable.
        #[arg(long = "care-provider", value_name = "HSA-ID")]
        care_providers: Vec<String>,
        /// Use this configuration file (validated, then written as the data directory's
        /// `callvault.toml`) instead of the embedded default: keys in a PKCS#11 token, S3
        /// sites (docs/configuration.md). Its `[audit] origin` wins.
        #[arg(long, conflicts_with = "origin")]
        config: Option<PathBuf>,
    },
    /// Serve the HTTPS access API: mutual TLS with SITHS certificates, the access policy,
    /// every access audited. Listens only on the configured addresses.
    Serve {
        /// Server configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Development PKI (not for production: production trusts the SITHS roots).
    Pki {
        /// What to do.
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Care providers (vårdgivare): each has its own keys and retention.
    CareProvider {
        /// What to do.
        #[command(subcommand)]
        command: CareProviderCommand,
    },
    /// Bulk-import a legacy archive from a CSV or JSON Lines manifest. Resumable: rows
    /// already imported are skipped.
    Import {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Manifest (`.csv` with header, or `.jsonl`).
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Check every recording at every site, the catalog against the sites, and the audit log
    /// against its signed checkpoints.
    Verify {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Also decrypt every copy and compare the plaintext hash.
        #[arg(long)]
        deep: bool,
    },
    /// Recover after a crash or an outage: finish interrupted deletions and key rotations;
    /// copy recordings with open repair tasks from a good site to the site lacking them;
    /// delete reappeared blobs of destroyed recordings; report (or, asked to, delete) the
    /// objects of uploads or imports cut short before they were acknowledged.
    Repair {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Also delete objects that no recording ever owned (uploads cut short by a crash).
        /// Not after restoring the catalog from a backup: the objects of recordings
        /// acknowledged after that backup look the same.
        #[arg(long)]
        remove_unacknowledged: bool,
    },
    /// Read every blob at every site within an I/O budget, authenticate it, mark missing or
    /// damaged copies, repair them from a healthy copy, and report recordings no site holds
    /// (lost). Resumes an interrupted pass. Exit code 1 if anything is lost or unrepaired.
    Scrub {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Read at most this many bytes per second on average (default: unlimited).
        #[arg(long)]
        bytes_per_sec: Option<u64>,
        /// Only find and mark; leave the repair tasks open.
        #[arg(long)]
        no_repair: bool,
    },
    /// Sites.
    Site {
        /// What to do.
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Counts, sites, under-replicated recordings, key versions, latest checkpoint.
    Status {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// The audit log: checkpoints, verification, proofs.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Privilege administration as a person, against a running server: you authenticate
    /// with your own client certificate, and every step goes through the server's policy,
    /// four-eyes checks and audit log.
    Admin {
        /// How to reach the server, and who you are.
        #[command(flatten)]
        conn: ApiConn,
        /// What to do.
        #[command(subcommand)]
        command: Box<AdminCommand>,
    },
    /// Log review as a person, against a running server (log reviewers, purpose
    /// logguppföljning): follow-up runs, reviews of findings, reports, patient log extracts.
    Review {
        /// How to reach the server, and who you are.
        #[command(flatten)]
        conn: ApiConn,
        /// What to do.
        #[command(subcommand)]
        command: Box<ReviewCommand>,
    },
    /// Records management as a person, against a running server (records managers): legal
    /// holds, the retention report, deletion orders and their certificates.
    Records {
        /// How to reach the server, and who you are.
        #[command(flatten)]
        conn: ApiConn,
        /// What to do.
        #[command(subcommand)]
        command: Box<RecordsCommand>,
    },
    /// Deletion certificates and interrupted deletions, offline.
    Deletion {
        /// What to do.
        #[command(subcommand)]
        command: DeletionCommand,
    },
    /// A C2SP tlog-witness for callvault's audit log (run by another region or an
    /// authority): cosigns consistent checkpoints, refuses forks.
    Witness {
        /// What to do.
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Governance: bootstrap of a care provider's first administrators, access review.
    Governance {
        /// What to do.
        #[command(subcommand)]
        command: GovernanceCommand,
    },
    /// Assignments (medarbetaruppdrag): who may do what, for which care provider and units,
    /// under which purpose, and until when.
    Assignments {
        /// What to do.
        #[command(subcommand)]
        command: AssignmentsCommand,
    },
    /// Key-encryption keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create (or reuse) a demo data directory with generated recordings for two care
    /// providers, import and verify them, create a development PKI and demo assignments,
    /// print ready-to-paste curl commands, and serve on 127.0.0.1:8443.
    Demo {
        /// Data directory.
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// Number of generated recordings.
        #[arg(long, default_value_t = 12)]
        recordings: usize,
        /// Address the demo server listens on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
        /// Prepare everything but do not start the server.
        #[arg(long)]
        no_serve: bool,
    },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Sign and store a checkpoint of the whole audit log, then submit it to the
    /// configured witnesses (`[[witnesses]]`) and store their cosignatures.
    Checkpoint {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Submit the latest checkpoint to the configured witnesses again (one that was down).
    Witness {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Recompute the audit tree and check it against every signed checkpoint.
    Verify {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print an inclusion proof (`--index`) or a consistency proof (`--old-size`) against
    /// the latest signed checkpoint.
    Proof {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Leaf index of the event to prove.
        #[arg(
            long,
            conflicts_with = "old_size",
            required_unless_present = "old_size"
        )]
        index: Option<u64>,
        /// Size of an earlier checkpoint to prove consistent with the latest.
        #[arg(long)]
        old_size: Option<u64>,
    },
    /// Print the latest audit events (who, what, when, outcome, purpose; patients only as a
    /// pseudonymous blind-index prefix, never identifiers). Recorded as an audit read.
    Events {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// How many of the latest events.
        #[arg(long, default_value_t = 20)]
        last: u64,
    },
    /// Print the public verifier key of the audit log.
    VerifierKey {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// `pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a SITHS-shaped development PKI: root, person CA, function CA, server
    /// certificate, client certificates for the demo roles (HSA-ID in the subject's
    /// serialNumber) plus an expired and a revoked one, CRLs, PEM and PKCS#12 files.
    Dev {
        /// Output directory (must not hold a PKI already).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `care-provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum CareProviderCommand {
    /// Register a care provider: create its key-encryption key, field key and blind-index
    /// key, and record it (audited). Recordings of unregistered care providers are refused.
    Add {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The care provider's HSA-ID.
        #[arg(long)]
        hsa_id: String,
    },
}

/// `assignments` subcommands.
#[derive(Debug, Subcommand)]
pub enum AssignmentsCommand {
    /// Import an assignment file (TOML: `[[user]]` and `[[assignment]]` tables) into the
    /// governance workflow: it is validated in full, its new users are registered and every
    /// assignment becomes a *request* that a privilege administrator must approve (API).
    /// All in one audited transaction; a refused file changes nothing. Server stopped.
    Import {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The assignment file.
        file: PathBuf,
    },
    /// List assignments with their state (requested, approved, rejected, revoked), who
    /// requested and decided them, and validity. The read is audited.
    List {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Only this care provider (HSA-ID).
        #[arg(long)]
        care_provider: Option<String>,
    },
}

/// A connection to a running server as a person.
#[derive(Debug, clap::Args)]
pub struct ApiConn {
    /// Server URL, e.g. https://127.0.0.1:8443.
    #[arg(long)]
    pub server: String,
    /// CA certificate(s) that issued the server's certificate (PEM).
    #[arg(long)]
    pub ca: PathBuf,
    /// Your client certificate chain (PEM).
    #[arg(long)]
    pub cert: PathBuf,
    /// Your private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
}

/// `admin` subcommands (privilege administrators).
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Register a user (person or system) employed by your care provider.
    RegisterUser {
        /// HSA-ID.
        #[arg(long)]
        hsa_id: String,
        /// Name.
        #[arg(long)]
        name: String,
        /// Title, e.g. Sjuksköterska.
        #[arg(long)]
        title: String,
        /// Employing care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
    },
    /// Request an assignment; a different administrator must approve it.
    Request {
        /// Holder (HSA-ID of a registered user).
        #[arg(long)]
        holder: String,
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// Own care unit (HSA-ID); repeatable.
        #[arg(long = "unit")]
        units: Vec<String>,
        /// Purpose (e.g. vard-och-behandling).
        #[arg(long)]
        purpose: String,
        /// Right (e.g. search, view-metadata, play); repeatable.
        #[arg(long = "right", required = true)]
        rights: Vec<String>,
        /// Start of validity (RFC 3339); default now.
        #[arg(long)]
        valid_from: Option<String>,
        /// End of validity (RFC 3339).
        #[arg(long)]
        valid_until: String,
        /// Why the access is needed (never patient data).
        #[arg(long)]
        justification: String,
    },
    /// Approve a request (not your own, not for yourself).
    Approve {
        /// Assignment id.
        id: String,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a request.
    Reject {
        /// Assignment id.
        id: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
    /// Revoke an approved assignment (at once, open streams included).
    Revoke {
        /// Assignment id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Registered users of your care provider.
    Users {
        /// Care provider (HSA-ID); needed if you administer several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// Assignments of your care provider.
    Assignments {
        /// Care provider (HSA-ID); needed if you administer several.
        #[arg(long)]
        care_provider: Option<String>,
        /// Only requested, approved, rejected or revoked.
        #[arg(long)]
        state: Option<String>,
    },
    /// The access review of your care provider.
    Review {
        /// Care provider (HSA-ID); needed if you administer several.
        #[arg(long)]
        care_provider: Option<String>,
        /// `text` (printable), `csv` or `json`.
        #[arg(long, default_value = "text")]
        format: String,
    },
}

/// Which recordings: ids, or a patient (read from a file, so that it stays out of shell
/// history and process listings) with an optional period.
#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// A recording id; repeatable.
    #[arg(long = "recording")]
    pub recordings: Vec<String>,
    /// A file holding the patient's personnummer, samordningsnummer or reserve number.
    #[arg(long)]
    pub patient_file: Option<PathBuf>,
    /// Calls starting at or after (RFC 3339), with --patient-file.
    #[arg(long)]
    pub from: Option<String>,
    /// Calls starting before (RFC 3339), with --patient-file.
    #[arg(long)]
    pub to: Option<String>,
}

/// `review` subcommands (log reviewers).
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Run the follow-up rules and a random spot check over a period (e.g. a month).
    FollowUp {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// Period start (RFC 3339).
        #[arg(long)]
        from: String,
        /// Period end, exclusive (RFC 3339).
        #[arg(long)]
        to: String,
        /// Rule settings (a JSON file with the keys of `[follow_up]`); the server's when
        /// absent.
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Spot-check seed (64 hex digits) to repeat an earlier draw.
        #[arg(long)]
        seed: Option<String>,
    },
    /// List follow-up runs.
    Runs {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
    },
    /// A run's report with its findings and reviews.
    Report {
        /// Run id, or `latest` for the care provider's newest run.
        id: String,
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// `html` (printable, Swedish), `csv` or `json`.
        #[arg(long, default_value = "html")]
        format: String,
        /// Write the report here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A patient's log extract (loggutdrag) as PDF (Swedish), CSV or JSON.
    Extract {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// A file holding the patient's personnummer, samordningsnummer or reserve number.
        #[arg(long)]
        patient_file: PathBuf,
        /// Accesses at or after (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Accesses before (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// `pdf`, `csv` or `json`.
        #[arg(long, default_value = "pdf")]
        format: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Judge a finding justified or unjustified.
    Judge {
        /// Run id, or `latest` for the care provider's newest run.
        id: String,
        /// Finding number.
        n: u32,
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// `justified` or `unjustified`.
        #[arg(long)]
        verdict: String,
        /// Comment (stored sealed).
        #[arg(long)]
        comment: String,
    },
}

/// `records` subcommands (records managers).
#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Register an order to prune audit events before a date (at least `[audit]
    /// retention_years` ago); every care provider's records manager approves it.
    AuditPrune {
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
        /// Prune the events before this instant (RFC 3339).
        #[arg(long)]
        before: String,
    },
    /// Approve a prune order of the audit log for your care provider.
    AuditPruneApprove {
        /// Order id.
        id: String,
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// Execute a prune order approved for every care provider.
    AuditPruneExecute {
        /// Order id.
        id: String,
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// List prune orders of the audit log.
    AuditPrunes {
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// Mark a patient as having protected identity (or lift the mark with --lift).
    Protect {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// A file holding the patient's personnummer, samordningsnummer or reserve number.
        #[arg(long)]
        patient_file: PathBuf,
        /// Where the marking comes from (e.g. a population register reference).
        #[arg(long)]
        reference: String,
        /// Lift the mark instead.
        #[arg(long)]
        lift: bool,
    },
    /// Set a legal hold over recordings.
    Hold {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// Which recordings.
        #[command(flatten)]
        scope: ScopeArgs,
        /// Why (stored sealed).
        #[arg(long)]
        reason: String,
        /// Case reference.
        #[arg(long)]
        case_reference: String,
    },
    /// Release a legal hold.
    Release {
        /// Hold id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List legal holds.
    Holds {
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// Recordings past their retention date.
    Retention {
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// Register an IVO decision (a second records manager approves it).
    RegisterIvo {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// IVO's case number.
        #[arg(long)]
        case_number: String,
        /// Decision date (YYYY-MM-DD).
        #[arg(long)]
        decision_date: String,
        /// The decision document (e.g. PDF), stored sealed.
        #[arg(long)]
        document: PathBuf,
        /// Which recordings.
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Register a purge of recordings past retention (a second records manager approves it).
    RegisterPurge {
        /// Care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// The purge's reference.
        #[arg(long)]
        reference: String,
    },
    /// List deletion orders.
    Orders {
        /// Care provider (HSA-ID); needed if you manage several.
        #[arg(long)]
        care_provider: Option<String>,
    },
    /// Approve a deletion order (not one you registered).
    Approve {
        /// Order id.
        id: String,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a deletion order.
    Reject {
        /// Order id.
        id: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
    /// Execute an approved order; writes its deletion certificate.
    Execute {
        /// Order id.
        id: String,
        /// Where to write the certificate (JSON).
        #[arg(long)]
        certificate: PathBuf,
    },
    /// Fetch the decision document of an IVO order.
    Document {
        /// Order id.
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fetch the certificate of an executed order.
    Certificate {
        /// Order id.
        id: String,
        /// Where to write it (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `deletion` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeletionCommand {
    /// Verify a deletion certificate offline against the audit log's verifier key.
    VerifyCertificate {
        /// The certificate (JSON).
        #[arg(long)]
        file: PathBuf,
        /// The audit log's verifier key (`callvault audit verifier-key`).
        #[arg(long)]
        key: String,
    },
    /// Finish deletion orders whose execution was interrupted (server stopped).
    Resume {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// `witness` subcommands.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create a witness cosigning key (file mode 0600); prints its verifier key, which logs
    /// configure to check cosignatures.
    Keygen {
        /// The witness's name, e.g. witness.region-varmland.example/w1.
        #[arg(long)]
        name: String,
        /// Where to write the secret key (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve `POST /add-checkpoint` over HTTPS for the configured logs.
    Serve {
        /// Witness configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

/// `governance` subcommands.
#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// Install a care provider's first two privilege administrators (explicit and audited;
    /// refused while it has an administrator in force). Server stopped.
    Bootstrap {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// An administrator: HSA-ID, name and title; given exactly twice, for two persons.
        #[arg(long = "admin", num_args = 3, value_names = ["HSA-ID", "NAME", "TITLE"], action = clap::ArgAction::Append)]
        admins: Vec<String>,
    },
    /// The access review of a care provider: every assignment in force with requester,
    /// approver, age, last use, expiring soon and unused for 90 days. The read is audited.
    Review {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The care provider (HSA-ID).
        #[arg(long)]
        care_provider: String,
        /// `text` (printable), `csv` or `json`.
        #[arg(long, default_value = "text")]
        format: String,
    },
}

/// `site` subcommands.
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Set up a lost site again in its configured (missing or empty) directory, then copy
    /// every recording back from the other sites. Server stopped.
    Recreate {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The site's name (as in callvault.toml).
        #[arg(long)]
        site: String,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a care provider's keys in the configured key backend (key files or the
    /// PKCS#11 token: KEK v1, field key, index key, all non-extractable in a token) and
    /// register the care provider; idempotent, like `care-provider add`.
    Create {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Care provider HSA-ID.
        #[arg(long)]
        care_provider: String,
    },
    /// List key-encryption keys (ids and versions, never key material).
    List {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Create a new KEK version for a care provider and re-wrap all its data keys; an
    /// interrupted rotation is resumed (no new version) by running it again.
    Rotate {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Care provider HSA-ID.
        #[arg(long)]
        care_provider: String,
    },
    /// Destroy a care provider's retired KEK versions that no data key uses any more.
    DestroyRetired {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Care provider HSA-ID.
        #[arg(long)]
        care_provider: String,
    },
}
