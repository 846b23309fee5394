# The walkthrough's SimpleCluster application (part 1 of the series), as its Elixir nodes run it:
# SimpleCluster.Observer logs node up / node down, SimpleCluster.Ping answers :ping with
# {:ok, node(), :pong} and pings every connected node. Run it beside nodus' simple_cluster:
#
#   elixir --name e1@127.0.0.1 --cookie secret examples/elixir/walkthrough.exs
#   build/examples/simple_cluster --name n1@127.0.0.1 --cookie secret --connect e1@127.0.0.1
#
# then type `ping` or `list` at either. It reads those commands on stdin and halts at the end of
# its input. tests/examples/elixir_walkthrough.sh runs this story as a test.
defmodule SimpleCluster.Observer do
  use GenServer
  require Logger

  def start_link(_), do: GenServer.start_link(__MODULE__, %{})

  @impl GenServer
  def init(state) do
    :net_kernel.monitor_nodes(true)
    {:ok, state}
  end

  @impl GenServer
  def handle_info({:nodedown, node}, state) do
    Logger.info("--- Node down: #{node}")
    {:noreply, state}
  end

  def handle_info({:nodeup, node}, state) do
    Logger.info("--- Node up: #{node}")
    {:noreply, state}
  end
end

defmodule SimpleCluster.Ping do
  use GenServer
  require Logger

  def start_link(_) do
    GenServer.start_link(__MODULE__, %{}, name: __MODULE__)
  end

  def ping do
    Node.list()
    |> Enum.map(&GenServer.call({__MODULE__, &1}, :ping))
    |> Logger.info()
  end

  @impl GenServer
  def init(state), do: {:ok, state}

  @impl GenServer
  def handle_call(:ping, from, state) do
    Logger.info("--- Receiving ping from #{inspect(from)}")
    {:reply, {:ok, node(), :pong}, state}
  end
end

{:ok, _} =
  Supervisor.start_link([SimpleCluster.Observer, SimpleCluster.Ping], strategy: :one_for_one)

IO.puts("ready #{node()}")

Stream.repeatedly(fn -> IO.gets("") end)
|> Enum.each(fn
  "ping\n" ->
    SimpleCluster.Ping.ping()

  "list\n" ->
    IO.puts("list #{inspect(Node.list())}")

  line when is_binary(line) ->
    IO.puts("commands: ping | list")

  _eof ->
    Logger.flush()
    System.halt(0)
end)
