"""DebyeHead: positive theta, sensible start, trainable from theta labels, Cv or U at one temperature, or a mix."""

from __future__ import annotations

import pytest
import torch

from cloud_core.debye import DebyeHead, DebyeKey, debye_cv, debye_loss, debye_u, thermo_loss, theta_loss


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread (two threads on a shared, loaded CPU spin and run 10-50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n: int = 96, dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, dim, generator=gen)
    w = torch.randn(dim, generator=gen)
    theta = 150.0 + 900.0 * torch.sigmoid(emb @ w / dim**0.5 * 2)
    return emb, theta


def _train(head: DebyeHead, emb: torch.Tensor, loss_fn, steps: int = 120) -> list[float]:
    opt = torch.optim.Adam(head.parameters(), lr=3e-2)
    head.train()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(head(emb))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    head.eval()
    return losses


def test_theta_is_positive_and_starts_near_init():
    torch.manual_seed(0)
    head = DebyeHead(16, hidden=32, theta_init_K=400.0).eval()
    theta = head(torch.randn(64, 16))
    assert theta.shape == (64,)
    assert ((theta - 400.0).abs() < 40.0).all()
    with torch.no_grad():
        for p in head.parameters():
            p.fill_(-1e3)
    assert (head(torch.full((4, 16), 1e3)) > 0).all()
    with pytest.raises(ValueError):
        DebyeHead(16, theta_init_K=0.5, theta_min_K=1.0)


def test_train_from_theta_labels():
    torch.manual_seed(0)
    emb, theta_true = _data()
    head = DebyeHead(8, hidden=32, dropout=0.0)
    losses = _train(head, emb, lambda pred: theta_loss(pred, theta_true))
    assert losses[-1] < 0.2 * losses[0]
    rel = ((head(emb) - theta_true).abs() / theta_true).median()
    assert rel < 0.05


def test_train_from_cv_at_300k_through_the_debye_layer():
    # the paper's recipe: labels are Cv(300 K); theta is never seen
    torch.manual_seed(0)
    emb, theta_true = _data()
    cv_300 = debye_cv(theta_true, torch.tensor(300.0))
    head = DebyeHead(8, hidden=32, dropout=0.0)
    losses = _train(head, emb, lambda pred: thermo_loss(pred, cv_300, quantity="cv", temp_K=300.0))
    assert losses[-1] < 0.2 * losses[0]
    rel = ((head(emb) - theta_true).abs() / theta_true).median()
    assert rel < 0.1
    curves = head.curves(head(emb).detach(), torch.linspace(0, 1000, 11), n_atoms=torch.full((96,), 2.0))
    assert curves[DebyeKey.CV_CELL].shape == (96, 11)


def test_u_loss_per_cell_and_mixed_labels_with_gaps():
    torch.manual_seed(0)
    emb, theta_true = _data(n=32)
    n_atoms = torch.randint(1, 6, (32,)).double()
    u_cell = debye_u(theta_true, torch.tensor(300.0)) * n_atoms.float()
    head = DebyeHead(8, hidden=16, dropout=0.0)
    loss_u = thermo_loss(head(emb), u_cell, quantity="u", temp_K=300.0, n_atoms=n_atoms)
    assert torch.isfinite(loss_u) and loss_u > 0
    # theta labels for half, Cv for the other half, NaN elsewhere: finite loss and gradients
    theta_lab = torch.where(torch.arange(32) < 16, theta_true, torch.nan)
    cv_lab = torch.where(torch.arange(32) >= 16, debye_cv(theta_true, torch.tensor(300.0)), torch.nan)
    loss = debye_loss(
        head(emb), theta_true_K=theta_lab, cv_target=cv_lab, u_target=torch.full((32,), torch.nan)
    )
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in head.parameters())
    with pytest.raises(ValueError, match="at least one"):
        debye_loss(head(emb))
    with pytest.raises(ValueError, match="quantity"):
        thermo_loss(head(emb), cv_lab, quantity="s")
