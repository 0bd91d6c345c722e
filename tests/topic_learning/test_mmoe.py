import torch

from topic_learning.mmoe import MMoE, MMoEConfig, multitask_loss


def _model(**kw):
    torch.manual_seed(0)
    return MMoE(
        MMoEConfig(
            input_dim=16,
            task_sizes=(3, 5, 7),
            n_experts=4,
            expert_hidden=8,
            expert_dim=6,
            tower_hidden=8,
            **kw,
        )
    )


def test_shapes_and_gates():
    model = _model()
    z = torch.randn(5, 16)
    assert [tuple(o.shape) for o in model(z)] == [(5, 3), (5, 5), (5, 7)]
    assert [tuple(m.shape) for m in model.mixtures(z)] == [(5, 6)] * 3
    gate = torch.softmax(model.gates[0](z), dim=-1)
    torch.testing.assert_close(gate.sum(dim=1), torch.ones(5))


def test_missing_labels_are_masked_not_dropped():
    model = _model()
    z = torch.randn(4, 16, requires_grad=True)
    logits = model(z)
    primary = torch.tensor([0, 1, 2, 0])
    secondary = torch.tensor([-1, -1, -1, -1])  # no secondary class known
    tags = torch.zeros(4, 7)
    tags[0, 3] = 1
    loss, parts = multitask_loss(logits, primary, secondary, tags)
    assert set(parts) == {"primary", "tags"}
    loss.backward()
    # Videos without tags or secondary class still train the primary task.
    assert z.grad[1].abs().sum() > 0


def test_tag_losses():
    model = _model()
    logits = model(torch.randn(2, 16))
    tags = torch.tensor([[1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1]], dtype=torch.float32)
    none = torch.tensor([-1, -1])
    for kind in ("bce", "softmax"):
        loss, parts = multitask_loss(logits, none, none, tags, tag_loss=kind)
        assert set(parts) == {"tags"} and loss.item() > 0
    loss, parts = multitask_loss(logits, none, none, torch.zeros(2, 7))
    assert parts == {} and loss.item() == 0
