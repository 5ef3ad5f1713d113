import json
import pickle

import numpy as np
import pytest

from nnforge.nn import SGD, Adam, Dense, Momentum, Network, replica_seeds


def _mlp(replicas=1, seed=0, dtype="float64", loss="mse", out=1, out_act="linear", **kw):
    layers = [
        Dense(5, "tanh", bias_initializer="signed_uniform"),
        Dense(4, "relu", bias_initializer="signed_uniform"),
        Dense(out, out_act, bias_initializer="signed_uniform"),
    ]
    return Network(3, layers, loss=loss, replicas=replicas, dtype=dtype, seed=seed, **kw)


def _data(rng, replicas, n=6, out=1, kind="regression"):
    x = rng.normal(size=(replicas, n, 3))
    if kind == "regression":
        y = rng.normal(size=(replicas, n, out))
    elif kind == "binary":
        y = rng.integers(0, 2, size=(replicas, n, out)).astype(float)
    else:
        y = np.eye(out)[rng.integers(0, out, size=(replicas, n))]
    return x, y


CASES = [
    ("mse", "linear", 2, "regression"),
    ("binary_crossentropy", "sigmoid", 2, "binary"),
    ("categorical_crossentropy", "softmax", 3, "onehot"),
    ("mse", "sigmoid", 1, "regression"),
]


@pytest.mark.parametrize(("loss", "out_act", "out", "kind"), CASES)
@pytest.mark.parametrize("replicas", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_network_gradient_matches_finite_differences(
    loss, out_act, out, kind, replicas, weighted, rng, numgrad
):
    net = _mlp(replicas, loss=loss, out=out, out_act=out_act)
    x, y = _data(rng, replicas, out=out, kind=kind)
    w = rng.uniform(0, 2, size=(replicas, 6)) if weighted else None
    if weighted:
        w[:, -2:] = 0.0  # padding rows
    losses = net.compute_gradients(x, y, w)
    np.testing.assert_allclose(losses, net.evaluate(x, y, w), rtol=1e-9)
    # Replicas are independent, so d(sum of replica losses)/d params = each replica's gradient.
    numeric = numgrad(lambda: float(net.evaluate(x, y, w).sum()), net.params)
    np.testing.assert_allclose(net.grads, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("hidden", ["linear", "tanh", "relu", "sigmoid", "softmax"])
def test_every_hidden_activation_keeps_the_bias_column_exact(hidden, rng, numgrad):
    # Hidden activations are applied to whole augmented buffers (softmax to the units only);
    # a ones column changed by f(1) != 1 would corrupt the next layer's bias and its gradient.
    layers = [Dense(4, hidden, bias_initializer="signed_uniform") for _ in range(2)] + [Dense(2)]
    net = Network(3, layers, replicas=2, dtype="float64", seed=1)
    x, y = _data(rng, 2, out=2)
    net.compute_gradients(x, y)
    numeric = numgrad(lambda: float(net.evaluate(x, y).sum()), net.params)
    np.testing.assert_allclose(net.grads, numeric, rtol=1e-5, atol=1e-8)
    a = x
    for layer in net.layers:  # the plain formula, layer by layer
        a = layer.activation.forward(a @ layer.kernel + layer.bias)
    np.testing.assert_allclose(net.predict(x), a, rtol=1e-12)


def test_sample_weights_define_a_weighted_mean(rng):
    net = _mlp(2)
    x, y = _data(rng, 2)
    w = np.array([[1, 1, 1, 0, 0, 0], [2, 0, 1, 1, 1, 1]], dtype=float)
    per_sample = ((net.predict(x) - y) ** 2)[..., 0]
    expected = (w * per_sample).sum(axis=1) / w.sum(axis=1)
    np.testing.assert_allclose(net.compute_gradients(x, y, w), expected, rtol=1e-12)
    # Rows with zero weight do not matter at all.
    x2, y2 = x.copy(), y.copy()
    x2[0, 3:] = 100.0
    y2[0, 3:] = -100.0
    grads = net.grads.copy()
    net.compute_gradients(x2, y2, w)
    np.testing.assert_allclose(net.grads, grads, rtol=1e-12)
    # A replica with no weight at all gets loss 0 and no gradient.
    w[1] = 0
    assert net.compute_gradients(x, y, w)[1] == 0
    assert np.isfinite(net.grads).all()


@pytest.mark.parametrize("optimizer", [SGD(0.05), Momentum(0.05), Adam(0.01, weight_decay=0.01)])
def test_replicas_are_independent(optimizer, rng):
    """R = 3 on three datasets == three R = 1 runs seeded with each replica's seed."""
    data = [_data(rng, 1, n=8) for _ in range(3)]
    x = np.concatenate([d[0] for d in data])
    y = np.concatenate([d[1] for d in data])
    layers = [Dense(6, "relu", dropout=0.2), Dense(5, "tanh", dropout=0.1), Dense(1)]
    big = Network(3, layers, optimizer=optimizer, replicas=3, seed=11, dtype="float64")
    seeds = replica_seeds(11, 3)
    singles = [Network(3, layers, optimizer=optimizer, seed=[s], dtype="float64") for s in seeds]
    for _ in range(20):
        big.train_step(x, y)
        for r, net in enumerate(singles):
            net.train_step(x[r : r + 1], y[r : r + 1])
    for r, net in enumerate(singles):
        for layer_big, layer_one in zip(big.layers, net.layers, strict=True):
            np.testing.assert_allclose(layer_big.kernel[r], layer_one.kernel[0], rtol=1e-12)
            np.testing.assert_allclose(layer_big.bias[r], layer_one.bias[0], rtol=1e-12)


def test_same_seed_is_bit_identical_and_int_seed_rule(rng):
    x, y = _data(rng, 4)

    def train(seed, replicas=4):
        net = Network(3, [Dense(8, "relu", dropout=0.3), Dense(1)], replicas=replicas, seed=seed)
        for _ in range(10):
            net.train_step(x[:replicas].astype("float32"), y[:replicas].astype("float32"))
        return net

    a, b = train(5), train(5)
    assert a.params.dtype == np.float32
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, train(6).params)
    # Replica r of an int seed does not depend on R: R=1 with the same int equals replica 0.
    one = train(5, replicas=1)
    np.testing.assert_array_equal(one.layers[0].kernel[0], a.layers[0].kernel[0])
    # A list gives each replica exactly the seed listed.
    listed = Network(3, [Dense(2)], replicas=2, seed=[1, 2])
    alone = Network(3, [Dense(2)], seed=[2])
    np.testing.assert_array_equal(listed.layers[0].kernel[1], alone.layers[0].kernel[0])
    # A Generator also works (not reproducible from the config).
    assert Network(3, [Dense(2)], replicas=2, seed=np.random.default_rng(0)).seeds is None


def test_flat_buffers_and_optimizer_segments():
    layers = [Dense(4, "relu"), Dense(3, "relu", optimizer=Adam()), Dense(1)]
    net = Network(2, layers, optimizer=Momentum(0.01), replicas=2)
    sizes = [2 * (2 * 4 + 4), 2 * (4 * 3 + 3), 2 * (3 * 1 + 1)]
    assert net.params.shape == net.grads.shape == (sum(sizes),)
    for layer in net.layers:  # every tensor is a view of the one buffer
        assert np.shares_memory(layer.kernel, net.params)
        assert np.shares_memory(layer.bias_grad, net.grads)
    assert [type(o).__name__ for o in net.optimizers] == ["Momentum", "Adam"]
    # Momentum's segment holds layers 0 and 2, each as [kernel; bias] per replica; weight
    # decay covers the kernel rows only.
    group = net._groups[0]
    assert group.layers == [0, 2]
    assert group.stop - group.start == sizes[0] + sizes[2]
    assert group.decay_mask.sum() == 2 * (2 * 4) + 2 * 3
    net.params[:] = np.arange(net.params.size)
    layer0 = net.layers[0]
    np.testing.assert_array_equal(layer0.weights[0, :2], layer0.kernel[0])
    np.testing.assert_array_equal(layer0.weights[0, 2], layer0.bias[0, 0])
    np.testing.assert_array_equal(layer0.kernel[1].ravel(), np.arange(12, 20))  # after bias 0
    net.params[:] = 1.0
    assert (net.layers[1].kernel == 1.0).all()


def test_per_layer_optimizers_update_their_own_layers():
    layers = [Dense(4, "tanh"), Dense(1, optimizer=Adam(0.01))]
    net = Network(2, layers, optimizer=SGD(0.1), replicas=2, dtype="float64", seed=3)
    x, y = np.ones((2, 5, 2)), np.zeros((2, 5, 1))
    before = [(layer.kernel.copy(), layer.bias.copy()) for layer in net.layers]
    net.compute_gradients(x, y)
    grads = [(layer.kernel_grad.copy(), layer.bias_grad.copy()) for layer in net.layers]
    net.apply_gradients()
    (k0, b0), (k1, b1) = before
    (gk0, gb0), (gk1, gb1) = grads
    np.testing.assert_allclose(net.layers[0].kernel, k0 - 0.1 * gk0, rtol=1e-12)
    np.testing.assert_allclose(net.layers[0].bias, b0 - 0.1 * gb0, rtol=1e-12)
    # Adam's first step is lr * g / (|g| + eps'): about lr * sign(g).
    np.testing.assert_allclose(net.layers[1].kernel, k1 - 0.01 * np.sign(gk1), rtol=1e-5)
    np.testing.assert_allclose(net.layers[1].bias, b1 - 0.01 * np.sign(gb1), rtol=1e-5)


def test_weight_decay_skips_biases():
    net = Network(2, [Dense(3), Dense(1)], optimizer=SGD(0.1, weight_decay=0.5), dtype="float64")
    net.params[:] = 1.0
    x, y = np.zeros((1, 4, 2)), np.zeros((1, 4, 1))
    net.compute_gradients(x, y)
    before = [(layer.kernel_grad.copy(), layer.bias_grad.copy()) for layer in net.layers]
    net.apply_gradients()
    for layer, (kernel_grad, bias_grad) in zip(net.layers, before, strict=True):
        np.testing.assert_allclose(layer.kernel, 1.0 - 0.1 * (kernel_grad + 0.5 * 1.0))
        np.testing.assert_allclose(layer.bias, 1.0 - 0.1 * bias_grad)


def test_predict_chunks_broadcast_and_shapes(rng):
    net = _mlp(3, dtype="float32")
    x = rng.normal(size=(3, 1001, 3)).astype("float32")
    full = net.predict(x)
    assert full.shape == (3, 1001, 1)
    assert full.dtype == np.float32
    np.testing.assert_allclose(net.predict(x, batch_size=100), full, rtol=1e-6)
    shared = net.predict(x[1])  # (n, n_in): the same rows for every replica
    np.testing.assert_allclose(shared[1], full[1], rtol=1e-6)
    assert net.predict(np.zeros((0, 3))).shape == (3, 0, 1)
    # Predictions are fresh arrays, never training buffers.
    out = net.predict(x)
    net.train_step(x[:, :8], np.zeros((3, 8, 1)))
    np.testing.assert_array_equal(out, full)


def test_save_load_predict_identical(tmp_path, rng):
    net = _mlp(3, dtype="float32", optimizer=Momentum(0.01))
    x, y = _data(rng, 3)
    for _ in range(3):
        net.train_step(x, y)
    base = net.save(tmp_path / "models" / "fold_0")
    assert (tmp_path / "models" / "fold_0.safetensors").exists()
    config = json.loads((tmp_path / "models" / "fold_0.json").read_text())
    assert config["replicas"] == 3
    assert config["dtype"] == "float32"
    loaded = Network.load(base.with_name("fold_0.safetensors"))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert loaded.get_config() == net.get_config()
    assert not list((tmp_path / "models").glob("*.tmp"))


def test_saved_file_is_byte_reproducible(tmp_path, rng):
    """The same network gives the same .safetensors bytes every time (safetensors itself
    writes its metadata in hash-map order, different from one call to the next)."""
    from safetensors import safe_open

    net = _mlp(2, dtype="float32")
    blobs = {
        net.save(tmp_path / f"m{i}").with_suffix(".safetensors").read_bytes() for i in range(12)
    }
    assert len(blobs) == 1
    blob = blobs.pop()
    assert (8 + int.from_bytes(blob[:8], "little")) % 8 == 0  # tensor bytes stay aligned
    with safe_open(str(tmp_path / "m0.safetensors"), "numpy") as f:
        assert set(f.metadata()) == {"format", "config"}
    x, _ = _data(rng, 2)
    np.testing.assert_array_equal(Network.load(tmp_path / "m3").predict(x), net.predict(x))


def test_load_without_json_and_across_dtypes(tmp_path, rng):
    net = _mlp(2, dtype="float64")
    net.save(tmp_path / "m.safetensors")
    (tmp_path / "m.json").unlink()  # the header also holds the architecture
    x, _ = _data(rng, 2)
    np.testing.assert_array_equal(Network.load(tmp_path / "m").predict(x), net.predict(x))
    single = _mlp(2, dtype="float32")
    single.load_weights(tmp_path / "m")  # float64 file into a float32 network: cast
    np.testing.assert_allclose(single.predict(x), net.predict(x), rtol=1e-5)


def test_load_rejects_a_mismatched_architecture(tmp_path):
    _mlp(2).save(tmp_path / "a")
    other = Network(3, [Dense(5, "tanh"), Dense(7, "relu"), Dense(1)], replicas=2, dtype="float64")
    with pytest.raises(ValueError, match=r"kernel of layer 1 .*\(2, 5, 7\).*\(2, 5, 4\)"):
        other.load_weights(tmp_path / "a")
    shorter = Network(3, [Dense(5, "tanh"), Dense(1)], replicas=2, dtype="float64")
    with pytest.raises(ValueError, match=r"unexpected \['layers.2.bias', 'layers.2.kernel'\]"):
        shorter.load_weights(tmp_path / "a")
    (tmp_path / "b.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot read parameters"):
        _mlp(2).load_weights(tmp_path / "b")


def test_replica_select_and_stack(rng):
    net = _mlp(3, optimizer=Adam(0.01))
    x, y = _data(rng, 3)
    net.train_step(x, y)
    best = net.replica(2)
    assert best.replicas == 1
    np.testing.assert_array_equal(
        best.predict(x[2:3]), net.predict(x[2:3] * np.ones((3, 1, 1)))[2:]
    )
    # The copy keeps the optimizer state and generator: it continues like the original replica.
    net.train_step(x, y)
    best.train_step(x[2:3], y[2:3])
    np.testing.assert_allclose(best.predict(x[2:3])[0], net.predict(x)[2], rtol=1e-12)
    ensemble = Network.stack([net.replica(0), best, net.select([1, 0])])
    assert ensemble.replicas == 4
    preds = ensemble.predict(x[0])
    np.testing.assert_allclose(preds[[0, 1, 2, 3]], net.predict(x[0])[[0, 2, 1, 0]], rtol=1e-12)
    with pytest.raises(ValueError, match="different architectures"):
        Network.stack([net, Network(3, [Dense(1)])])
    with pytest.raises(IndexError, match="Received: i=3"):
        net.replica(3)


def test_input_validation_messages():
    net = _mlp(2)
    with pytest.raises(
        ValueError, match=r"`x` must have shape \(2, n, 3\). Received: x.shape=\(4, 3\)"
    ):
        net.train_step(np.zeros((4, 3)), np.zeros((2, 4, 1)))
    with pytest.raises(ValueError, match=r"`y` must have shape \(2, 4, 1\)"):
        net.train_step(np.zeros((2, 4, 3)), np.zeros((2, 5, 1)))
    with pytest.raises(ValueError, match="`sample_weight` must have shape"):
        net.train_step(np.zeros((2, 4, 3)), np.zeros((2, 4, 1)), np.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        net.train_step(np.zeros((2, 4, 3)), np.zeros((2, 4, 1)), -np.ones((2, 4)))
    with pytest.raises(ValueError, match="`replicas` must be a positive integer"):
        Network(3, [Dense(1)], replicas=0)
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        Network(3, [Dense(1)], dtype="float16")
    with pytest.raises(ValueError, match=r"one seed per replica \(2\). Received: len\(seed\)=3"):
        Network(3, [Dense(1)], replicas=2, seed=[1, 2, 3])
    with pytest.raises(TypeError, match="Dense layers"):
        Network(3, [])


def test_config_round_trip_and_repr():
    net = _mlp(2, optimizer=Momentum(0.01, nesterov=True))
    clone = Network.from_config(json.loads(json.dumps(net.get_config())))
    np.testing.assert_array_equal(clone.params, net.params)  # same seed, same init
    assert repr(net).startswith("Network(n_inputs=3, layers=[Dense(5, activation='tanh')")


def test_replica_view_is_exactly_one_replicas_parameters():
    net = Network(3, [Dense(4, "relu"), Dense(2)], replicas=3, dtype="float64", seed=0)
    before = net.params.copy()
    for weights in net.replica_view(1):
        weights[...] = 7.0
    changed = net.params != before
    assert (net.params[changed] == 7.0).all()
    assert changed.sum() == net.params.size // 3  # replica 1's share, nothing else
    np.testing.assert_array_equal(net.replica(1).params, np.full(net.params.size // 3, 7.0))


@pytest.mark.parametrize("optimizer", [SGD(0.05), Adam(0.01)])
def test_pickle_continues_training_identically(optimizer, rng):
    # Pickling rebuilds the layers' views into the flat buffer and keeps the optimizer state
    # and the dropout generators: the copy and the original take identical next steps.
    layers = [Dense(5, "tanh", dropout=0.2), Dense(1)]
    net = Network(3, layers, optimizer=optimizer, replicas=2, seed=0)
    x, y = _data(rng, 2)
    net.train_step(x, y)
    copy = pickle.loads(pickle.dumps(net))
    assert np.shares_memory(copy.layers[0].weights, copy.params)
    for _ in range(3):
        np.testing.assert_array_equal(copy.train_step(x, y), net.train_step(x, y))
    np.testing.assert_array_equal(copy.params, net.params)
    assert copy.get_config() == net.get_config()
