"""The settings of the protocols (mosic_mm.evaluation.protocol and each
protocol's frozen dataclass): every default with its source, a fast preset
of sizes only, and a key the protocol does not read refused, naming it and
the valid keys, wherever settings are passed (a settings object, a
benchmark, run_benchmark)."""
import dataclasses
import re

import pytest

from mosic_mm.evaluation.benchmarks import BENCHMARKS, run_benchmark
from mosic_mm.evaluation.protocol import ProtocolSettings, setting
from mosic_mm.evaluation.protocols import PROTOCOLS

PROTOCOL_NAMES = ['hummingbird', 'linear', 'overcluster', 'videoclust',
                  'propagate']


def _valid(Settings):
    """The error's list of valid keys (after 'they are ')."""
    return ', '.join(Settings.names())


def test_one_class_per_protocol():
    assert sorted(PROTOCOLS) == sorted(PROTOCOL_NAMES)
    for name, P in PROTOCOLS.items():
        assert P.name == name
        assert issubclass(P.Settings, ProtocolSettings)
        assert P().settings == P.Settings()
        other = next(Q for Q in PROTOCOLS.values() if Q is not P)
        with pytest.raises(TypeError, match=P.Settings.__name__):
            P(other.Settings())


@pytest.mark.parametrize('name', PROTOCOL_NAMES)
def test_every_default_has_a_source(name):
    Settings = PROTOCOLS[name].Settings
    sources = Settings.sources()
    assert list(sources) == list(Settings.names())
    for key, src in sources.items():
        assert isinstance(src, str) and src.strip(), key
    # a frozen dataclass: a run cannot change its settings
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(s, Settings.names()[0], None)


@pytest.mark.parametrize('name', PROTOCOL_NAMES)
def test_fast_preset_changes_sizes_only(name):
    Settings = PROTOCOLS[name].Settings
    assert Settings.FAST and set(Settings.FAST) <= set(Settings.size_names())
    paper, fast = Settings().to_dict(), Settings().fast().to_dict()
    changed = {k for k in paper if paper[k] != fast[k]}
    assert changed == set(Settings.FAST)
    assert changed <= set(Settings.size_names())


@pytest.mark.parametrize('name', list(BENCHMARKS))
def test_benchmark_fast_preset_changes_sizes_only(name):
    b = BENCHMARKS[name]
    paper = b.settings_for('paper').to_dict()
    fast = b.settings_for('fast').to_dict()
    changed = {k for k in paper if paper[k] != fast[k]}
    assert changed <= set(b.Settings.size_names()), changed
    # the benchmark's own settings hold under both presets
    for k, v in b.settings.items():
        assert paper[k] == fast[k] == v, k


def test_fast_preset_of_a_non_size_setting_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Settings(ProtocolSettings):
        size: int = setting(8, 'ours', size=True)
        lr: float = setting(0.1, 'ours')
        FAST = dict(size=2, lr=0.5)

    with pytest.raises(KeyError) as e:
        Settings().fast()
    assert e.value.args[0] == ("Settings.FAST: 'lr' is not among the size "
                               'settings of Settings; they are size')


@pytest.mark.parametrize('name', PROTOCOL_NAMES)
def test_replace_refuses_an_unknown_key(name):
    Settings = PROTOCOLS[name].Settings
    s = Settings()
    with pytest.raises(KeyError) as e:
        s.replace(dict(nonsense=1))
    msg = e.value.args[0]
    assert "'nonsense' is not among the settings" in msg
    assert msg.endswith(_valid(Settings))
    key = Settings.names()[-1]
    value = getattr(s, key)
    assert s.replace({key: value}) == s


@pytest.mark.parametrize('name,key', [
    ('voc-overcluster', 'standardize'),     # no such setting: standardised
    ('davis-videoclust', 'standardize'),
    ('voc-linear', 'k'),                    # Hummingbird's, not the probe's
    ('voc-hummingbird', 'lr'),
    ('davis-propagate', 'nonsense')])
def test_benchmark_settings_refuse_a_key_the_protocol_does_not_read(name,
                                                                    key):
    b = BENCHMARKS[name]
    for preset in ('paper', 'fast'):
        with pytest.raises(KeyError) as e:
            b.settings_for(preset, {key: 1})
        msg = e.value.args[0]
        assert msg.startswith(f'benchmark {name}: {key!r} is not among')
        assert msg.endswith(_valid(b.Settings))


def test_run_benchmark_refuses_an_unknown_key_before_running():
    """Nothing is loaded or run (no backbone, no data) before the error."""
    with pytest.raises(KeyError, match=re.escape(
            "'nonsense' is not among the settings of LinearSettings; they "
            'are ' + _valid(BENCHMARKS['voc-linear'].Settings))):
        run_benchmark('voc-linear', None, {}, '/nonexistent', 'fast',
                      overrides=dict(nonsense=1))


def test_benchmark_overrides_reach_the_settings():
    b = BENCHMARKS['voc-hummingbird']
    s = b.settings_for('fast', dict(k=7, fractions=(1, )))
    assert (s.k, s.fractions, s.input_size) == (7, (1, ), 56)
