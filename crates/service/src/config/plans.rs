//! `[plans.<name>]`: what each plan allows (backups per month, storage, retention, own keys,
//! schedule frequencies). The defaults are the spec's free, basic, pro and enterprise plans.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    /// A cron expression (Enterprise by default).
    Custom,
}

impl Frequency {
    pub const ALL: [Frequency; 5] = [
        Frequency::Hourly,
        Frequency::Daily,
        Frequency::Weekly,
        Frequency::Monthly,
        Frequency::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
            Frequency::Custom => "custom",
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// `None` = unlimited.
    pub backups_per_month: Option<u32>,
    pub storage_bytes: u64,
    pub retention_days: u32,
    /// The org may have its own encryption keys (create, rotate, revoke).
    #[serde(default)]
    pub custom_keys: bool,
    /// The schedule frequencies the org may use; empty (the default) = no schedules.
    #[serde(default)]
    pub schedule_frequencies: Vec<Frequency>,
}

impl PlanLimits {
    pub fn allows_schedule(&self, frequency: Frequency) -> bool {
        self.schedule_frequencies.contains(&frequency)
    }
}

const MB: u64 = 1_000_000;
const GB: u64 = 1_000 * MB;

pub fn default_plans() -> BTreeMap<String, PlanLimits> {
    use Frequency::{Custom, Daily, Hourly, Monthly, Weekly};
    let plan = |backups, storage_bytes, retention_days, schedules: &[Frequency]| PlanLimits {
        backups_per_month: backups,
        storage_bytes,
        retention_days,
        custom_keys: false,
        schedule_frequencies: schedules.to_vec(),
    };
    let all = [Hourly, Daily, Weekly, Monthly];
    BTreeMap::from([
        ("free".to_string(), plan(Some(2), 500 * MB, 7, &[])),
        ("basic".to_string(), plan(Some(10), 5 * GB, 30, &[Daily])),
        ("pro".to_string(), plan(None, 50 * GB, 90, &all)),
        (
            "enterprise".to_string(),
            PlanLimits {
                custom_keys: true,
                ..plan(
                    None,
                    500 * GB,
                    365,
                    &[Hourly, Daily, Weekly, Monthly, Custom],
                )
            },
        ),
    ])
}
