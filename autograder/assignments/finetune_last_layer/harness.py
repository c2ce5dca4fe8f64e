"""Harness of the finetune_last_layer challenges: runs INSIDE the student's kernel.

Executed after ``autograder/harness_runtime.py`` (its names, such as
``to_plain``, are in scope). ``CALLS`` maps a challenge kind to a function
``(namespace, args) -> plain value``; ``namespace`` is the notebook's global
namespace, where the student's functions live. Every call runs in a forked
child with all generators seeded, so the reference solution, answering the
same challenge in its own run, sees exactly the same inputs.

Part D, E and F challenges hand the student's functions the grader's own
classifier (``GraderClassifier``), so a mistake in Part C costs Part C only.
"""
import torch
from torch import nn

SHARED = {}


def prepare(namespace, specs):
    """Once, in the kernel, before the calls are forked (every call inherits it): the real tokenizer (fresh, not
    the notebook's), the model classes (importing them costs far more than building a small model), and the
    large models some challenges use."""
    from coursekit import models
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel, GPT2Config, GPT2Model

    SHARED["tokenizer"] = models.load_tokenizer()
    SHARED["classes"] = (BertConfig, BertModel, DistilBertConfig, DistilBertModel, GPT2Config, GPT2Model)
    for spec in specs:
        if spec["args"].get("prebuild"):
            SHARED[spec["name"]] = build_encoder(spec["args"]["encoder"])


def build_encoder(config):
    """A randomly initialised encoder from a plain config: BERT, DistilBERT or GPT-2, no dropout."""
    if "classes" in SHARED:
        BertConfig, BertModel, DistilBertConfig, DistilBertModel, GPT2Config, GPT2Model = SHARED["classes"]
    else:
        from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel, GPT2Config, GPT2Model
    torch.manual_seed(config["seed"])
    width, depth, heads, vocab = config["hidden"], config["layers"], config["heads"], config["vocab"]
    if config["arch"] == "bert":
        return BertModel(BertConfig(vocab_size=vocab, hidden_size=width, num_hidden_layers=depth,
                                    num_attention_heads=heads, intermediate_size=2 * width,
                                    max_position_embeddings=128, hidden_dropout_prob=0.0,
                                    attention_probs_dropout_prob=0.0))
    if config["arch"] == "distilbert":
        return DistilBertModel(DistilBertConfig(vocab_size=vocab, dim=width, n_layers=depth, n_heads=heads,
                                                hidden_dim=2 * width, max_position_embeddings=128,
                                                dropout=0.0, attention_dropout=0.0))
    if config["arch"] == "gpt2":
        return GPT2Model(GPT2Config(vocab_size=vocab, n_embd=width, n_layer=depth, n_head=heads, n_positions=128,
                                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                    bos_token_id=vocab - 1, eos_token_id=vocab - 1))
    raise ValueError(f"unknown architecture {config['arch']!r}")


def real_mean(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class GraderClassifier(nn.Module):
    """The grader's classifier: ``.encoder``, ``.head``, and pooling chosen by the challenge."""

    def __init__(self, encoder, num_labels, pool=real_mean):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        self.pool = pool

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.pool(hidden, attention_mask))


def grader_classifier(args, head_scale=0.5, prebuilt=None):
    model = GraderClassifier(prebuilt if prebuilt is not None else build_encoder(args["encoder"]), args.get("num_labels", 2))
    torch.manual_seed(args["encoder"]["seed"] + 1)
    with torch.no_grad():
        model.head.weight.normal_(0, head_scale)
        model.head.bias.zero_()
    return model


def set_pattern(model, pattern_seed):
    """A random requires_grad pattern, so that a function must set every flag, not only some."""
    if pattern_seed is None:
        return
    generator = torch.Generator().manual_seed(pattern_seed)
    for parameter in model.parameters():
        parameter.requires_grad_(bool(torch.rand((), generator=generator) < 0.5))


def flags(model):
    return {name: bool(p.requires_grad) for name, p in model.named_parameters()}


def token_batch(args, vocab):
    """Random token ids with right padding (id 0) after each row's length, and the matching mask."""
    lengths = args["lengths"]
    width = max(lengths)
    generator = torch.Generator().manual_seed(args["input_seed"])
    ids = torch.randint(5, vocab, (len(lengths), width), generator=generator)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        ids[row, length:] = 0
    return ids, mask


def student(namespace, name):
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    return namespace[name]


# ------------------------------------------------------------------ Part A
def call_encode_batch(namespace, args):
    tokenizer = SHARED["tokenizer"]
    encode_batch = student(namespace, "encode_batch")
    if args["max_length"] is None:
        batch = encode_batch(tokenizer, list(args["texts"]))
    else:
        batch = encode_batch(tokenizer, list(args["texts"]), args["max_length"])
    out = {}
    for key in ("input_ids", "attention_mask"):
        try:
            value = batch[key]
        except Exception:
            raise Unanswerable(f"the result has no {key!r}") from None
        if not isinstance(value, torch.Tensor):
            raise Unanswerable(f"{key} is {type(value).__name__}, not a PyTorch tensor (return_tensors='pt')")
        out[key] = to_plain(value)
    return out


# ------------------------------------------------------------------ Part B
def call_inspect(namespace, args):
    model = build_encoder(args["encoder"])
    result = student(namespace, args["function"])(model)
    return to_plain(result, root=model)


# ------------------------------------------------------------------ Part C
def call_mean_pool(namespace, args):
    generator = torch.Generator().manual_seed(args["input_seed"])
    lengths = args["lengths"]
    hidden = torch.randn(len(lengths), max(lengths), args["dim"], generator=generator)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        hidden[row, length:] = args["garbage"]  # what sits under padding must not matter
    return to_plain(student(namespace, "mean_pool")(hidden, mask))


def call_pooled_logits(namespace, args):
    """The student's mean_pool inside the grader's classifier, on padded batches of real-looking ids."""
    model = grader_classifier(args).eval()
    model.pool = student(namespace, "mean_pool")
    ids, mask = token_batch(args, args["encoder"]["vocab"])
    with torch.no_grad():
        return to_plain(model(ids, mask))


def call_classifier(namespace, args):
    encoder = build_encoder(args["encoder"])
    classifier = student(namespace, "SentimentClassifier")(encoder, num_labels=args["num_labels"])
    head = getattr(classifier, "head", None)
    report = {"encoder_kept": getattr(classifier, "encoder", None) is encoder,
              "head_type": type(head).__name__,
              "head_shape": [head.in_features, head.out_features] if isinstance(head, nn.Linear) else None,
              "logits": None}
    if isinstance(head, nn.Linear):
        torch.manual_seed(args["input_seed"])
        with torch.no_grad():
            head.weight.normal_(0, 0.5)
            if head.bias is not None:
                head.bias.normal_(0, 0.5)
        ids, mask = token_batch(args, args["encoder"]["vocab"])
        classifier.eval()
        with torch.no_grad():
            report["logits"] = to_plain(classifier(ids, mask))
    return report


# ------------------------------------------------------------------ Part D
def call_freeze(namespace, args):
    model = grader_classifier(args) if args["wrap"] else build_encoder(args["encoder"])
    set_pattern(model, args["pattern_seed"])
    student(namespace, args["function"])(model)
    return flags(model)


def call_count_trainable(namespace, args):
    model = grader_classifier(args)
    set_pattern(model, args["pattern_seed"])
    return to_plain(student(namespace, "count_trainable")(model))


def call_make_optimizer(namespace, args):
    model = grader_classifier(args)
    set_pattern(model, args["pattern_seed"])
    optimizer = student(namespace, "make_optimizer")(model, lr=args["lr"])
    names = {id(p): name for name, p in model.named_parameters()}
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list):
        raise Unanswerable(f"make_optimizer returned {type(optimizer).__name__}, not a torch optimizer")
    return {"adamw": isinstance(optimizer, torch.optim.AdamW),
            "type": type(optimizer).__name__,
            "groups": [{"params": [names.get(id(p), "<not a parameter of the model>") for p in group["params"]],
                        "lr": to_plain(group.get("lr"))} for group in groups]}


# ------------------------------------------------------------------ Part E
def blocks(encoder):
    return max((m for m in encoder.modules() if isinstance(m, nn.ModuleList)), key=len)


def training_setup(args):
    """The grader's classifier on a small encoder that reads real token ids; last block + head trainable."""
    model = grader_classifier(args)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for module in (blocks(model.encoder)[-1], model.head):
        for parameter in module.parameters():
            parameter.requires_grad_(True)
    return model


def call_train_one_epoch(namespace, args):
    model = training_setup(args)
    # Plain SGD: its step is proportional to the gradient, so honest variants of the loop that add up
    # the same numbers in another order stay within a tight tolerance (Adam would amplify tiny gradients).
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args["lr"])
    generator = torch.Generator().manual_seed(args["shuffle_seed"])
    frozen = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}
    losses = student(namespace, "train_one_epoch")(model, optimizer, list(args["texts"]), list(args["labels"]),
                                                    args["batch_size"], generator, args["mask_rate"])
    if not isinstance(losses, (list, tuple)):
        raise Unanswerable(f"train_one_epoch returned {type(losses).__name__}, not a list of losses")
    parameters = dict(model.named_parameters())
    trained = {name: to_plain(p) for name, p in parameters.items() if name not in frozen}
    frozen_changed = sorted(name for name, before in frozen.items()
                            if parameters[name].requires_grad or not torch.equal(parameters[name], before))
    return {"losses": [to_plain(float(loss)) for loss in losses], "trained": trained, "frozen_changed": frozen_changed}


def call_predict(namespace, args):
    model = grader_classifier(args, head_scale=5.0)  # a large head: the predicted class varies from text to text
    predictions = student(namespace, "predict")(model, list(args["texts"]), batch_size=args["batch_size"])
    if not isinstance(predictions, (list, tuple)):
        raise Unanswerable(f"predict returned {type(predictions).__name__}, not a list")
    return {"predictions": [to_plain(p) for p in predictions], "training_mode_after": model.training}


# ------------------------------------------------------------------ Part F
def tensor_digests(raw):
    """{name: sha256 of dtype, shape and bytes} of a safetensors file, read without trusting it."""
    import hashlib

    from safetensors.torch import load

    return {name: hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode() + t.contiguous().numpy().tobytes()).hexdigest()
            for name, t in load(raw).items()}


def call_export(namespace, args):
    model = grader_classifier(args, prebuilt=SHARED.get(args.get("prebuilt_as")))
    set_pattern(model, args.get("pattern_seed"))  # frozen tensors are part of the state too
    if args["transposed_head"]:
        # A parameter that is a transposed view is not contiguous: safetensors refuses it unless made contiguous.
        with torch.no_grad():
            model.head.weight = nn.Parameter(model.head.weight.detach().t().contiguous().t())
    returned = student(namespace, "export_weights")(model, args["path"])
    import os

    if not os.path.isfile(args["path"]):
        raise Unanswerable(f"no file was written at the path it was given ({args['path']})")
    size = os.path.getsize(args["path"])
    weights = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    if size > 2 * weights + 2**20:
        raise Unanswerable(f"the file is {size} bytes, far more than the model's weights")
    with open(args["path"], "rb") as handle:
        raw = handle.read()
    try:
        digests = tensor_digests(raw)
    except Exception as error:
        raise Unanswerable(f"the file is not safetensors: {str(error)[:120]}") from None
    return {"digests": digests, "returned": str(returned)}


CALLS = {
    "encode_batch": call_encode_batch,
    "inspect": call_inspect,
    "mean_pool": call_mean_pool,
    "pooled_logits": call_pooled_logits,
    "classifier": call_classifier,
    "freeze": call_freeze,
    "count_trainable": call_count_trainable,
    "make_optimizer": call_make_optimizer,
    "train_one_epoch": call_train_one_epoch,
    "predict": call_predict,
    "export": call_export,
}
