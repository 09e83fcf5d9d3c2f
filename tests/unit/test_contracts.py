"""The registry's topic hashes equal the values published in shared/chain-facts.md."""

import pytest

from orderflow_dagster.chain.contracts import CONTRACTS, EVENTS_BY_KEY, event_for, watched_topics

PUBLISHED_TOPICS = {
    "order_filled_v1": "0xd0a08e8c493f9c94f29311604c9de1b4e8c8d4c06bd0c789af57f2d65bfec0f6",
    "orders_matched_v1": "0x63bf4d16b7fa898ef4c4b2b6d90fd201e9c56313b65638af6088d149d2ce956c",
    "token_registered": "0xbc9a2432e8aeb48327246cddd6e872ef452812b4243c04e6bfb786a2cd8faf0d",
    "order_filled_v2": "0xd543adfd945773f1a62f74f0ee55a5e3b9b1a28262980ba90b1a89f2ea84d8ee",
    "orders_matched_v2": "0x174b3811690657c217184f89418266767c87e4805d09680c39fc9c031c0cab7c",
    "condition_preparation": "0xab3760c3bd2bb38b5bcf54dc79802ed67338b4cf29f3054ded67ed24661e4177",
    "condition_resolution": "0xb44d84d3289691f71497564b85d4233648d9dbae8cbdbb4329f301c3a0185894",
    "payout_redemption": "0x2682012a4a4f1973119f1c9b90745d1bd91fa2bab387344f044cb3586864d18d",
    "outcome_reported": "0x9e9fa7fd355160bd4cd3f22d4333519354beff1f5689bde87f2c5e63d8d484b2",
}


@pytest.mark.parametrize("key, topic", sorted(PUBLISHED_TOPICS.items()))
def test_topic_hash_matches_published_value(key, topic):
    assert EVENTS_BY_KEY[key].topic0 == topic


def test_addresses_are_lowercase_and_unique():
    addresses = [c.address for c in CONTRACTS]
    assert all(a == a.lower() and len(a) == 42 for a in addresses)
    assert len(set(addresses)) == len(addresses)


def test_event_layout_is_chosen_by_contract_generation():
    by_name = {c.name: c for c in CONTRACTS}
    v1, v2 = by_name["ctf_exchange_v1"], by_name["ctf_exchange_v2"]
    fill_v1, fill_v2 = EVENTS_BY_KEY["order_filled_v1"], EVENTS_BY_KEY["order_filled_v2"]
    assert event_for(v1, fill_v1.topic0) is fill_v1 and event_for(v1, fill_v2.topic0) is None
    assert event_for(v2, fill_v2.topic0) is fill_v2 and event_for(v2, fill_v1.topic0) is None
    assert event_for(by_name["conditional_tokens"], fill_v1.topic0) is None


def test_watched_topics_cover_every_event_once():
    assert sorted(watched_topics()) == sorted(set(PUBLISHED_TOPICS.values()))
