import gc

import pytest

from cosell.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def _collector_enabled_after():
    yield
    gc.enable()


def test_the_collector_is_paused_inside_and_enabled_again_after_even_on_an_error():
    gc.enable()
    with pytest.raises(ValueError), gc_paused():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()


def test_a_pause_inside_a_pause_leaves_the_collector_paused_until_the_outer_one_ends():
    gc.enable()
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()
