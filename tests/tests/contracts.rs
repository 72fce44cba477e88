//! The runtime agrees with the contracts in `lunora-shared` that the macros and codegen use:
//! backoff names as users write them (and as the runtime serialises them), and the backoff
//! codes the `#[step]` expansion hands to the runtime.

use lunora_runtime::Backoff;
use lunora_shared::backoff::Backoff as SharedBackoff;

#[test]
fn every_backoff_name_and_code_means_the_same_backoff_in_the_runtime() {
    for shared in SharedBackoff::ALL {
        let parsed = Backoff::parse(shared.name()).unwrap_or_else(|e| panic!("{shared}: {e}"));
        assert_eq!(serde_json::to_value(parsed).unwrap(), shared.name(), "the runtime serialises {shared} by its name");
        let config = lunora_runtime::__private::step_config(true, -1, -1, shared.code(), -1).expect("a config");
        assert_eq!(config.retries.expect("retries").backoff, Some(parsed), "code {} is {shared}", shared.code());
    }
    let undeclared = lunora_runtime::__private::step_config(true, -1, -1, -1, -1).expect("a config");
    assert_eq!(undeclared.retries.expect("retries").backoff, None, "-1 means not declared");
}

#[test]
fn an_unknown_backoff_is_refused_with_one_message() {
    for bad in ["Exponential", "fibonacci", ""] {
        assert_eq!(Backoff::parse(bad).unwrap_err(), SharedBackoff::parse(bad).unwrap_err(), "{bad:?}");
    }
}
