//! Discovery, extraction and (later) restore of one organization.
