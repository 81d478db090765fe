"""Small real models with known behaviour, for tests that must tell which model played."""
import jax.numpy as jnp
from flax import nnx

from livecrepre.models import MelodyRNN, Model


def constant_model(pitch: int, name: str | None = None, units: int = 32) -> Model:
    """A melody network whose output layer always picks `pitch`: a new note on every tick."""
    net = MelodyRNN(embed=16, units=units, layers=1, rngs=nnx.Rngs(0))
    net.out.kernel.set_value(jnp.zeros_like(net.out.kernel.get_value()))
    net.out.bias.set_value(jnp.full((130,), -1e4).at[pitch].set(0.0))
    return Model.from_network(net, name or f"constant{pitch}")
